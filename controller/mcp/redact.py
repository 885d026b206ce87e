"""Secrets in a job's environment, redacted once more as it leaves the server.

The job archive (slurm/slurm_job_archive.py) already replaces values by variable name with its
``SLURM_JOB_ARCHIVE_REDACT`` patterns, which a site may have narrowed; these are its defaults,
applied again (tests keep both lists equal), plus credentials the archive keeps inside other
values: ``scheme://user:password@host`` and ``Bearer``/``Basic`` authorizations."""

from __future__ import annotations

import fnmatch
import re

REDACTED = "<redacted>"
SECRET_NAMES = ("*PASSWORD*", "*PASSWD*", "*PASSPHRASE*", "*_PASS", "*_PWD", "SSHPASS", "*SECRET*", "*TOKEN*",
                "*KEY*", "*CREDENTIAL*", "*JWT*", "*_PAT", "*CONNECTION_STRING*", "*AUTHORIZATION*", "*COOKIE*",
                "!SLURM_WCKEY", "!SLURM_PMI_KVS_*DUP_KEYS", "!SLURM_PMI2_PPKEY")
_URL_PASSWORD = re.compile(r"(\w+://[^/\s:@]+:)[^@\s/]+@")
_AUTHORIZATION = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}", re.I)


def secret_name(name: str) -> bool:
    upper = name.upper()
    if any(fnmatch.fnmatchcase(upper, p[1:]) for p in SECRET_NAMES if p.startswith("!")):
        return False
    return any(fnmatch.fnmatchcase(upper, p) for p in SECRET_NAMES if not p.startswith("!"))


def redacted(entry: str) -> str:
    """One ``NAME=value`` line of the archive's ``.env`` (or any line ``run_kql`` returns) with
    its secrets replaced."""
    name, sep, _value = entry.partition("=")
    if sep and secret_name(name):
        return f"{name}={REDACTED}"
    return _AUTHORIZATION.sub(rf"\1 {REDACTED}", _URL_PASSWORD.sub(rf"\1{REDACTED}@", entry))
