"""The classification's rules on the wording of the lines that real clusters write and this
test cluster can't: the kernel's cgroup oom-kill (mm/oom_kill.c), a node failure and a prolog
failure (slurmctld 22.05, job_mgr.c / node_mgr.c), environment modules and Lmod. The cases the
test cluster produces are tested on its own lines in tests/slurm/test_mcp_cluster.py."""

import datetime as _dt
import importlib.util
import pathlib

import pytest

from controller.mcp.classify import classify
from controller.mcp.redact import SECRET_NAMES, redacted
from controller.mcp.rows import Row, hostlist

AT = _dt.datetime(2026, 12, 1, 10, 0, tzinfo=_dt.timezone.utc)


def ctld(message, job=7):
    return Row(time=AT, table="slurmctld_CL", process="slurmctld", job_id=job, message=message)


def slurmd(message, job=7, level="error"):
    return Row(time=AT, table="slurmd_CL", process="slurmstepd", job_id=job, step="batch", level=level, message=message)


def kernel(message, job=None):
    return Row(time=AT, table="dmesg_CL", process="kernel", job_id=job, message=message)


def output(message, kind="stdout", job=7):
    return Row(time=AT, table="slurmjobs_CL", process="job", job_id=job, kind=kind, message=message)


ALLOCATED = ctld("sched: Allocate JobId=7 NodeList=hpc-1 #CPUs=4 Partition=hpc")
OOM_SUMMARY = ("oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,"
               "oom_memcg=/slurm/uid_1000/job_7,task_memcg=/slurm/uid_1000/job_7/step_batch/task_0,task=python3,pid=4242,uid=1000")
OOM_KILLED = ("Memory cgroup out of memory: Killed process 4242 (python3) total-vm:3311640kB, anon-rss:2097152kB, "
              "file-rss:4096kB, shmem-rss:0kB, UID:1000 pgtables:4280kB oom_score_adj:0")


def test_an_oom_kill_in_the_jobs_cgroup():
    verdict = classify([ALLOCATED, kernel(OOM_SUMMARY, job=7), ctld("_job_complete: JobId=7 WTERMSIG 9")])
    assert (verdict.classification.category, verdict.state) == ("out_of_memory", "OUT_OF_MEMORY")
    assert [e.line.message for e in verdict.classification.evidence] == [OOM_SUMMARY, "_job_complete: JobId=7 WTERMSIG 9"]


def test_another_jobs_oom_kill_on_the_node_is_not_this_jobs():
    """A kernel line with no job id is a node line: it doesn't make this job's exit 1 an OOM."""
    verdict = classify([ALLOCATED, kernel(OOM_KILLED), ctld("_job_complete: JobId=7 WEXITSTATUS 1")])
    assert verdict.classification.category == "non_zero_exit" and verdict.exit_code == 1


def test_the_cgroup_plugins_oom_event():
    line = "Detected 1 oom-kill event(s) in StepId=7.batch. Some of your processes may have been killed by the cgroup out-of-memory handler."
    verdict = classify([ALLOCATED, slurmd(line), ctld("_job_complete: JobId=7 WEXITSTATUS 0")])
    assert verdict.classification.category == "out_of_memory"
    assert verdict.classification.evidence[0].line.message == line


def test_a_node_failure():
    line = "Killing JobId=7 on failed node hpc-1"
    verdict = classify([ALLOCATED, ctld(line)])
    assert (verdict.classification.category, verdict.state) == ("node_failure", "NODE_FAIL")
    assert verdict.classification.evidence[0].line.message == line


def test_a_prolog_failure_drains_the_node():
    line = "validate_node_specs: Prolog or job env setup failure on node hpc-1, draining the node"
    verdict = classify([ALLOCATED, Row(time=AT, table="slurmctld_CL", process="slurmctld", level="error", message=line)])
    assert verdict.classification.category == "prolog_epilog_failure"
    assert verdict.classification.evidence[0].line.message == line


@pytest.mark.parametrize("line", [
    "/var/spool/slurmd/job00007/slurm_script: line 4: module: command not found",
    "ERROR: Unable to locate a modulefile for 'gcc/99'",
    "Lmod has detected the following error:  The following module(s) are unknown: \"gcc/99\"",
    "ModuleNotFoundError: No module named 'torch'",
])
def test_a_command_or_module_not_found(line):
    verdict = classify([ALLOCATED, output(line, kind="stderr"), ctld("_job_complete: JobId=7 WEXITSTATUS 1")])
    assert verdict.classification.category == "command_not_found" and verdict.exit_code == 1
    assert verdict.classification.evidence[0].line.message == line


def test_no_rule_fits_cites_the_most_relevant_lines():
    errors = [slurmd(f"error number {i}") for i in range(7)]
    verdict = classify([ALLOCATED, slurmd("done with job", level=""), *errors])
    assert verdict.classification.category == "unknown"
    assert [e.line.message for e in verdict.classification.evidence] == [f"error number {i}" for i in range(2, 7)]


def test_a_cancel_by_root_and_by_another_user():
    for uid, by in ((0, "root"), (1234, "uid 1234")):
        verdict = classify([ALLOCATED, ctld(f"_slurm_rpc_kill_job: REQUEST_KILL_JOB JobId=7 uid {uid}")],
                           owner=lambda u: "root" if u == 0 else f"uid {u}")
        assert verdict.reason == f"the job was cancelled by {by}"


def test_the_time_limit_comes_before_the_cancel_it_looks_like():
    verdict = classify([ALLOCATED, slurmd("*** JOB 7 ON hpc-1 CANCELLED AT 2026-12-01T10:00:00 DUE TO TIME LIMIT ***")])
    assert verdict.classification.category == "time_limit"


def test_secrets_inside_values_and_by_name():
    assert redacted("DB_PASSWORD=hunter2") == "DB_PASSWORD=<redacted>"
    assert redacted("SLURM_WCKEY=project-a") == "SLURM_WCKEY=project-a"
    assert redacted("DATABASE_URL=postgres://app:s3cret@db:5432/x") == "DATABASE_URL=postgres://app:<redacted>@db:5432/x"
    assert redacted("CURL_ARGS=-H Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.x") == "CURL_ARGS=-H Authorization: Bearer <redacted>"
    assert redacted("PLAIN=visible") == "PLAIN=visible"


def test_the_name_patterns_are_the_archives_defaults():
    path = pathlib.Path(__file__).resolve().parents[2] / "slurm" / "slurm_job_archive.py"
    spec = importlib.util.spec_from_file_location("slurm_job_archive_for_mcp", path)
    archive = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(archive)
    assert list(SECRET_NAMES) == archive.parse_redact_patterns(archive.DEFAULTS["SLURM_JOB_ARCHIVE_REDACT"])


def test_slurm_host_lists():
    assert hostlist("hpc-[1-3,7],login-1") == ["hpc-1", "hpc-2", "hpc-3", "hpc-7", "login-1"]
    assert hostlist("n[08-10]") == ["n08", "n09", "n10"]
    assert hostlist("(null)") == []
