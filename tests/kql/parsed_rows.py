"""Rows in the parsed tables' columns (the contract shared with the parsed tables' transforms),
made in Python from the same lines the raw tables hold, for the tests of the workspace functions
and the cookbook until the simulated agent runs the DCRs' own transforms.

JobId is the job's own id where the line carries one: slurmd's `[N.step]` prefix, slurmctld's
`JobId=N` (an array task's `JobId=8_1(11)` is 11), `batch job N`, `StepId=N.x`, the archive's
file name (plain ids only: `job_103_4` names an array task, not its own id).
"""

from __future__ import annotations

import datetime as dt
import re

COLUMNS = [("TimeGenerated", "dateTime"), ("Computer", "string"), ("FilePath", "string"), ("Level", "string"),
           ("Process", "string"), ("JobId", "long"), ("StepId", "string"), ("Message", "string")]
ARCHIVE_COLUMNS = COLUMNS + [("User", "string"), ("FileKind", "string")]
_SLURM = re.compile(r"^\[(?P<ts>[^\]]+)\] (?P<msg>.*)$")
_STEP = re.compile(r"^\[(?P<job>\d+)\.(?P<step>\w+)\] ")
_JOB = re.compile(r"JobId=(?:\d+_\d+\((?P<task>\d+)\)|(?P<id>\d+))|batch job (?P<batch>\d+)|StepId=(?P<step>\d+)\.")
_SYSLOG = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\dT\S+) \S+ (?P<proc>[^\s\[:]+)(?:\[\d+\])?: (?P<msg>.*)$")
_ARCHIVE = re.compile(r"/job_(?P<job>\d+)(?P<task>_\d+)?\.(?P<user>[^/]+)\.(?P<kind>sh|env|out|err)$")
_LEVEL = re.compile(r"^(?P<level>error|debug\d?|fatal|warning): +")
FILE_KINDS = {"sh": "script", "env": "environment", "out": "stdout", "err": "stderr"}


def row(at, computer, path, message, process, level="", job=None, step=""):
    return {"TimeGenerated": at, "Computer": computer, "FilePath": path, "Level": level, "Process": process,
            "JobId": job, "StepId": step, "Message": message}


def slurm(line: str, computer: str, path: str, daemon: str, tz=dt.timezone.utc) -> dict:
    """A slurmctld/slurmd line: its own timestamp, level (none for info lines), job and step."""
    m = _SLURM.match(line)
    at = dt.datetime.fromisoformat(m["ts"]).replace(tzinfo=tz)
    message, step = m["msg"], _STEP.match(m["msg"])
    if step:
        message = message[step.end():]
    level, message = _level(message)
    parsed = row(at, computer, path, message, "slurmstepd" if step else daemon, level)
    if step:
        parsed.update(JobId=int(step["job"]), StepId=step["step"])
    elif (job := _JOB.search(message)) is not None:
        parsed["JobId"] = int(next(g for g in job.groups() if g))
    return parsed


def _level(message: str) -> tuple[str, str]:
    m = _LEVEL.match(message)
    return (m["level"].rstrip("0123456789"), message[m.end():]) if m else ("", message)


def syslog(line: str, computer: str, path: str, collected) -> dict:
    """An RFC 3339 syslog line; another format keeps the whole line and the collection time."""
    m = _SYSLOG.match(line)
    if m is None:
        return row(collected, computer, path, line, "")
    at = dt.datetime.fromisoformat(m["ts"])
    level, message = _level(m["msg"])
    return row(at if collected.tzinfo else at.replace(tzinfo=None), computer, path, message, m["proc"], level)


def archive(line: str, computer: str, path: str, collected) -> dict:
    """A line of an archived job file: job, user and kind from its name."""
    m = _ARCHIVE.search(path)
    return {**row(collected, computer, path, line, "job", job=int(m["job"]) if m and not m["task"] else None),
            "User": m["user"] if m else "", "FileKind": FILE_KINDS[m["kind"]] if m else ""}
