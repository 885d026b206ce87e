"""Each parsed table's transform, run by the local KQL engine on lines in their real formats
(data/README.md says where each comes from): every line kept, >= 95% parsed, and a job id on the
lines that name one. The figures are printed per table."""

from __future__ import annotations

import datetime as dt
import pathlib
import subprocess

import pytest

from controller.components import load_components
from controller.transforms import LogFormat
from tests.kql.workspace import engine
from tests.transforms.figures import INGESTED, run

DATA = pathlib.Path(__file__).parent / "data"
KQL_DATA = pathlib.Path(__file__).parents[1] / "kql" / "data"
UTC = dt.timezone.utc


def _component(pattern: str):
    return next(c for c in load_components() if c.pattern == pattern)


def _lines(path: pathlib.Path) -> list[str]:
    return path.read_text().splitlines()


def _own_dmesg() -> list[str]:
    """This machine's kernel ring buffer, in the format dmesg prints: real lines when readable."""
    try:
        out = subprocess.run(["dmesg"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return out.stdout.splitlines()[:500] if out.returncode == 0 else []


CASES = {
    "slurmctld": (KQL_DATA / "slurmctld.log", "/var/log/slurmctld/slurmctld.log"),
    "slurmd": (KQL_DATA / "slurmd.log", "/var/log/slurmd/slurmd.log"),
    "syslog": (DATA / "syslog", "/var/log/syslog"),
    "dmesg": (DATA / "dmesg", "/var/log/dmesg"),
    "jetpack": (DATA / "jetpack.log", "/opt/cycle/jetpack/logs/jetpack.log"),
    "jetpackd": (DATA / "jetpackd.log", "/opt/cycle/jetpack/logs/jetpackd.log"),
    "healthagent": (DATA / "healthagent.log", "/opt/healthagent/healthagent.log"),
}


@pytest.fixture(scope="module", autouse=True)
def _engine():
    engine()


@pytest.mark.parametrize("pattern", list(CASES))
def test_every_line_is_kept_and_parsed(pattern, capsys):
    source, path = CASES[pattern]
    c = _component(pattern)
    lines = _lines(source) + (_own_dmesg() if pattern == "dmesg" else [])
    rows, figures = run(c.log_format, c.process or c.pattern, path, lines, c.parsed_table)
    with capsys.disabled():
        print("\n" + figures.line())
    figures.assert_targets()
    for row in rows:
        if row["TimeGenerated"] == INGESTED and c.log_format is not LogFormat.DMESG:
            assert row["Message"] == row["_raw"], row  # a line in no format lands whole
        assert row["Level"] in ("", "fatal", "error", "warning", "info", "debug"), row


def _by_message(rows, text):
    return next(r for r in rows if text in r["Message"])


def test_slurmd_steps_and_slurmctld_array_tasks():
    rows, _ = run(LogFormat.SLURM, "slurmd", "/var/log/slurmd/slurmd.log", _lines(KQL_DATA / "slurmd.log"), "slurmd_CL")
    step = _by_message(rows, "done with job")
    assert (step["Process"], step["JobId"], step["StepId"], step["Message"]) == ("slurmstepd", 2, "batch", "done with job")
    srun = next(r for r in rows if r["_raw"].endswith("[10.0] done with job"))
    assert (srun["JobId"], srun["StepId"]) == (10, "0")
    launch = _by_message(rows, "launch task StepId=10.0")
    assert (launch["Process"], launch["JobId"], launch["Level"]) == ("slurmd", 10, "info")
    error = _by_message(rows, "can not load PMIx library")
    assert error["Level"] == "error" and error["Message"].startswith("mpi/pmix_v4")  # "error:  mpi/..."
    rows, _ = run(LogFormat.SLURM, "slurmctld", "/var/log/slurmctld/slurmctld.log",
                  _lines(KQL_DATA / "slurmctld.log"), "slurmctld_CL")
    task = _by_message(rows, "JobId=8_2(12) WEXITSTATUS")
    assert (task["JobId"], task["ArrayJobId"], task["ArrayTaskId"]) == (12, 8, 2)
    assert task["TimeGenerated"] == dt.datetime(2026, 11, 25, 7, 39, 27, 783000, tzinfo=UTC)


def test_oom_kill_and_xid_lines():
    rows, _ = run(LogFormat.DMESG, "dmesg", "/var/log/dmesg", _lines(DATA / "dmesg"), "dmesg_CL")
    oom = _by_message(rows, "oom-kill:constraint")
    assert (oom["Process"], oom["JobId"], oom["StepId"], oom["BootSeconds"]) == ("kernel", 123, "batch", 5012.3458)
    assert oom["Message"].startswith("oom-kill:") and oom["TimeGenerated"] == INGESTED
    xid = _by_message(rows, "Xid (PCI:0000:02:00): 48")
    assert xid["Level"] == "error" and xid["Message"].startswith("NVRM: Xid")
    rows, _ = run(LogFormat.SYSLOG, "syslog", "/var/log/syslog", _lines(DATA / "syslog"), "syslog_CL")
    xid = _by_message(rows, "Xid (PCI:0000:01:00): 79")
    assert (xid["Process"], xid["TimeGenerated"]) == ("kernel", dt.datetime(2026, 11, 25, 7, 41, 12, tzinfo=UTC))
    old = _by_message(rows, "not responding")
    assert (old["Process"], old["Level"]) == ("slurmctld", "error")
    assert old["TimeGenerated"] == dt.datetime(INGESTED.year, 9, 8, 21, 12, 1, tzinfo=UTC)  # the year it was read
    archived = _by_message(rows, "archived as job_2")
    assert (archived["Process"], archived["JobId"]) == ("slurm-job-archive", 2)


def test_a_traceback_is_one_record_with_the_line_that_logged_it():
    for pattern in ("jetpack", "healthagent"):
        source, path = CASES[pattern]
        c = _component(pattern)
        rows, figures = run(c.log_format, c.pattern, path, _lines(source), c.parsed_table)
        failed = next(r for r in rows if "Traceback" in r["Message"])
        assert failed["Level"] == "error" and failed["Message"].count("\n") >= 3, failed
        assert figures.rows_in < len(_lines(source))  # joined
        assert all(not r["Message"].startswith("  File") for r in rows)


def test_the_archive_names_job_user_and_kind():
    c = _component("slurmjobs")
    files = {
        "/shared/slurm-logs/job_5.sja.test.out": "hello from 5",  # a user name with a dot (flat layout)
        "/shared/slurm-logs/job_8_2.sjatest.err": "task 2 of 8",
        "/shared/slurm-logs/sjatest/job_9.env": "SLURM_JOB_ID=9",  # per-user layout
        "/shared/slurm-logs/job_7.sjatest.sh": "#!/bin/sh",
    }
    got = {}
    for path, line in files.items():
        rows, figures = run(c.log_format, "job", path, [line], c.parsed_table)
        figures.assert_targets()
        got[path] = {k: rows[0][k] for k in ("JobId", "User", "FileKind", "ArrayJobId", "ArrayTaskId", "Process", "Message")}
    assert got == {
        "/shared/slurm-logs/job_5.sja.test.out": dict(JobId=5, User="sja.test", FileKind="stdout", ArrayJobId=None, ArrayTaskId=None, Process="job", Message="hello from 5"),
        "/shared/slurm-logs/job_8_2.sjatest.err": dict(JobId=None, User="sjatest", FileKind="stderr", ArrayJobId=8, ArrayTaskId=2, Process="job", Message="task 2 of 8"),
        "/shared/slurm-logs/sjatest/job_9.env": dict(JobId=9, User="sjatest", FileKind="environment", ArrayJobId=None, ArrayTaskId=None, Process="job", Message="SLURM_JOB_ID=9"),
        "/shared/slurm-logs/job_7.sjatest.sh": dict(JobId=7, User="sjatest", FileKind="script", ArrayJobId=None, ArrayTaskId=None, Process="job", Message="#!/bin/sh"),
    }
