"""The reference document's sample KQL queries, run verbatim on what this project produces.

The workspace (tests/kql/workspace.py) holds rows built the way the Azure Monitor Agent builds
them: one row per line of each file. The job archive files are made by the functions of
slurm/slurm_job_archive.py, the slurmctld lines come from a real Slurm 22.05 log. Each seed query
is asserted on its exact result; where a seed query is wrong on real data, the test shows how,
and runs the corrected query of docs/queries.md next to it.
"""

import pathlib
import re

import pytest

from tests.kql.workspace import (SCHEDULER, SMALL_MAX_BYTES, archive,
                                 shim_leading_column_parse, split_statements)

# The seed queries, verbatim from cyclecloud-slurm-log-collection.md.
SEED = {
    "seed-recent-submissions": """slurmjobs_raw_CL
| where FilePath contains ".sh"
| where TimeGenerated > ago(1d)
| project TimeGenerated, Computer, FilePath, RawData
| order by TimeGenerated desc""",
    "seed-job-failures": """slurmjobs_raw_CL
| where FilePath contains ".err"
| where RawData contains "error" or RawData contains "failed"
| project TimeGenerated, Computer, FilePath, RawData
| order by TimeGenerated desc""",
    "seed-job-env": """slurmjobs_raw_CL
| where FilePath contains ".env"
| parse FilePath with * "/job_" JobId:string ".env"
| parse RawData with EnvVar "=" EnvValue
| where EnvVar startswith "SLURM_"
| project JobId, EnvVar, EnvValue, TimeGenerated""",
    "seed-parse-slurmctld": """slurmctld_raw_CL
| parse RawData with "[" Timestamp "] " Level ": " Component ": " Message
| where isnotempty(Timestamp)
| project TimeGenerated, Computer, Timestamp, Level, Component, Message""",
    "seed-parse-syslog": """syslog_raw_CL
| parse RawData with Timestamp " " Computer " " Process ": " Message
| project TimeGenerated, Computer, Timestamp, Process, Message""",
    "seed-take-10": """// Check slurmctld logs
slurmctld_raw_CL
| take 10

// Check slurmd logs
slurmd_raw_CL
| take 10

// Check slurmjobs logs (job archives)
slurmjobs_raw_CL
| take 10

// Check system logs
syslog_raw_CL
| take 10""",
}

SEED_DOC_NAME = "cyclecloud-slurm-log-collection.md"
SECRETS = ("hunter2-db", "tok-123456", "azs-0123456789")


@pytest.fixture(scope="module")
def files(ws):
    return archive(ws.sja, ws.layout)


def recent(files, **kw):
    """Archive files of the last day matching kw (part=..., user=...)."""
    return [f for f in files if f["ago"] < 24 * 60
            and all(f[k] == v for k, v in kw.items())]


# --------------------------------------------------------------------------- the texts


def test_docs_hold_the_seed_queries_verbatim(doc):
    for name, text in SEED.items():
        assert doc[name] == text, name


def _seed_document():
    here = pathlib.Path(__file__).resolve()
    for base in (pathlib.Path("/work/shared/seed"), here.parents[3] / "shared" / "seed",
                 here.parents[2] / "shared" / "seed"):
        if (base / SEED_DOC_NAME).is_file():
            return (base / SEED_DOC_NAME).read_text()
    return None


def test_seed_queries_are_those_of_the_reference_document():
    text = _seed_document()
    if text is None:
        pytest.skip("the reference document %s is not beside this checkout" % SEED_DOC_NAME)
    blocks = re.findall(r"```kql\n(.*?)\n```", text, re.S)
    for name, query in SEED.items():
        assert query in blocks, "%s is not (or no longer) in the reference document" % name


# --------------------------------------------------------------------------- job archive


def test_seed_recent_submissions_lists_the_scripts_and_every_file_of_a_dotted_user(
        ws, doc, files):
    rows = ws.run(doc["seed-recent-submissions"])
    assert rows.columns == ["TimeGenerated", "Computer", "FilePath", "RawData"]
    assert set(rows.col("Computer")) == {SCHEDULER}
    times = rows.col("TimeGenerated")
    assert times == sorted(times, reverse=True)
    got = sorted((r["FilePath"], r["RawData"]) for r in rows)
    scripts = sorted((f["path"], line) for f in recent(files, part="sh") for line in f["lines"])
    # the bug: FilePath contains ".sh" is true of every file of the user a.shah
    a_shah = sorted((f["path"], line) for f in recent(files, user="a.shah")
                    if f["part"] != "sh" for line in f["lines"])
    assert a_shah and got == sorted(scripts + a_shah)
    assert "/shared/slurm-logs/job_103_4.alice.sh" in {p for p, _ in got}  # the array task
    assert not [p for p, _ in got if "/job_90." in p]  # two days old


def test_recent_submissions_corrected(ws, doc, files):
    rows = ws.run(doc["recent-submissions"])
    got = sorted((r["User"], r["JobId"], r["RawData"]) for r in rows)
    assert got == sorted((f["user"], f["job"], line)
                         for f in recent(files, part="sh") for line in f["lines"])
    assert ("alice", "103_4", "echo task $SLURM_ARRAY_TASK_ID") in got
    assert ("job_runner", "301", "./nightly") in got


def test_seed_job_failures_misses_jobs_without_err_and_takes_dotted_users(ws, doc, files):
    rows = ws.run(doc["seed-job-failures"])
    got = sorted((r["FilePath"], r["RawData"]) for r in rows)
    assert got == sorted([
        ("/shared/slurm-logs/job_102.alice.err", "RuntimeError: CUDA error: out of memory"),
        ("/shared/slurm-logs/job_102.alice.err",
         "srun: error: ccw-hpc-2: task 0: Exited with exit code 1"),
        ("/shared/slurm-logs/job_102.alice.err",
         "Checkpoint save failed: /scratch/alice/ckpt: No space left on device"),
        # no time bound: a job archived two days ago
        ("/shared/slurm-logs/job_90.alice.err", "error: this old job failed"),
        # `contains ".err"`: the stdout of user r.errington
        ("/shared/slurm-logs/job_202.r.errington.out", "checked 120 files, 0 errors"),
    ])
    # missed: the time-limit kill of a job without --error (its stderr is in .out), and the
    # Traceback line
    assert not [p for p, _ in got if "/job_106." in p]
    assert not [line for _, line in got if line.startswith("Traceback")]
    times = rows.col("TimeGenerated")
    assert times == sorted(times, reverse=True)


def test_job_failures_corrected(ws, doc):
    rows = ws.run(doc["job-failures"])
    got = sorted((r["User"], r["JobId"], r["Part"], r["RawData"]) for r in rows)
    assert got == sorted([
        ("alice", "102", "err", "Traceback (most recent call last):"),
        ("alice", "102", "err", "RuntimeError: CUDA error: out of memory"),
        ("alice", "102", "err", "srun: error: ccw-hpc-2: task 0: Exited with exit code 1"),
        ("alice", "102", "err",
         "Checkpoint save failed: /scratch/alice/ckpt: No space left on device"),
        ("carol", "106", "out", "slurmstepd: error: *** JOB 106 ON ccw-hpc-3 CANCELLED AT "
                                "2025-09-08T21:40:00 DUE TO TIME LIMIT ***"),
    ])


def _seed_job_env(ws, doc, files, wrong_job_id):
    """Run seed-job-env; check it against the archive with JobId as the seed's parse gets it
    (`wrong_job_id(file)`); return {JobId: {name: value}}."""
    rows = ws.run(doc["seed-job-env"])
    assert doc["seed-job-env"] in ws.shimmed  # parse RawData with EnvVar ...: see workspace.py
    assert rows.columns == ["JobId", "EnvVar", "EnvValue", "TimeGenerated"]
    got = sorted((r["JobId"], r["EnvVar"], r["EnvValue"]) for r in rows)
    expected = []
    for f in files:
        if f["part"] != "env":
            continue
        for line in f["lines"]:
            name, _, value = line.partition("=")
            if name.startswith("SLURM_"):
                expected.append((wrong_job_id(f), name, value))
    assert got == sorted(expected)
    for value in (v for _, _, v in got):
        assert not any(s in value for s in SECRETS)
    by_job = {}
    for job, name, value in got:
        by_job.setdefault(job, {})[name] = value
    return by_job


def test_seed_job_env_takes_the_user_into_job_ids_in_the_flat_layout(ws, doc, files):
    # `JobId:string ".env"` runs up to ".env": job_104.bob.env gives 104.bob
    by_job = _seed_job_env(ws, doc, files, lambda f: "%s.%s" % (f["job"], f["user"]))
    assert by_job["103_4.alice"]["SLURM_ARRAY_JOB_ID"] == "103"
    assert by_job["103_4.alice"]["SLURM_ARRAY_TASK_ID"] == "4"
    assert by_job["103_4.alice"]["SLURM_JOB_ID"] == "107"
    assert by_job["102.alice"]["SLURM_JOB_NODELIST"] == "ccw-hpc-2"
    assert by_job["101.alice"]["SLURM_WORKING_CLUSTER"] == "ccw:%s:6817:9728:109" % SCHEDULER
    assert "SLURM_SCRIPT_CONTEXT" not in by_job["101.alice"]  # the TaskProlog's own, dropped
    assert "90.alice" in by_job  # no time bound in this one
    assert "301.job_runner" in by_job and not {"101", "102", "103_4"} & set(by_job)


def test_seed_job_env_in_the_per_user_layout_fails_users_named_job_(ws_per_user, doc):
    # the bug: `* "/job_"` stops at the first "/job_", here the user folder job_runner
    by_job = _seed_job_env(ws_per_user, doc, archive(ws_per_user.sja, "per-user"), lambda f: (
        "runner/job_301" if f["user"] == "job_runner" else f["job"]))
    assert by_job["103_4"]["SLURM_ARRAY_TASK_ID"] == "4" and "90" in by_job
    assert "runner/job_301" in by_job and "301" not in by_job


def test_job_env_corrected_shows_secrets_redacted(ws, doc):
    rows = ws.run(doc["job-env"])
    env = {r["EnvVar"]: r["EnvValue"] for r in rows}
    assert env["DB_PASSWORD"] == env["MY_API_TOKEN"] == env["AZURE_CLIENT_SECRET"] == \
        "<redacted>"
    assert env["PLAIN_SETTING"] == "plain-visible"
    assert env["NOTE"] == "line one\\nline two"  # one row per variable, newline escaped
    assert env["SLURM_JOB_ID"] == "104" and env["SLURMD_NODENAME"] == "ccw-hpc-1"
    assert list(env) == sorted(env)
    # nowhere in the workspace, whatever the query
    everything = ws.run("slurmjobs_raw_CL | project RawData").col("RawData")
    assert not [line for line in everything if any(s in line for s in SECRETS)]
    assert "export DB_PASSWORD" in everything  # the name is not a secret, its value is


def test_job_env_for_an_array_task(ws, doc):
    query = doc["job-env"].replace('let jobid = "104";', 'let jobid = "103_4";')
    env = {r["EnvVar"]: r["EnvValue"] for r in ws.run(query)}
    assert (env["SLURM_ARRAY_JOB_ID"], env["SLURM_ARRAY_TASK_ID"]) == ("103", "4")


def test_truncated_output_is_marked_and_found(ws, doc, files):
    (big,) = [f for f in files if f["job"] == "105" and f["part"] == "out"]
    source = big["source"]["files"][".out"].encode()
    omitted = len(source) - SMALL_MAX_BYTES
    marker = ("[slurm-job-archive: truncated: %d of %d bytes omitted here "
              "(SLURM_JOB_ARCHIVE_MAX_BYTES=%d)]" % (omitted, len(source), SMALL_MAX_BYTES))
    assert marker in big["lines"]
    assert big["lines"][0] == "solver start" and big["lines"][-1] == "solver converged"
    rows = ws.run(doc["truncated-files"])
    assert [(r["User"], r["JobId"], r["Part"], r["OmittedBytes"], r["TotalBytes"])
            for r in rows] == [("bob", "105", "out", omitted, len(source))]


# --------------------------------------------------------------------------- Slurm logs


SAMPLE_BACKFILL = "_attempt_backfill: no jobs to backfill"


def _raw(ws, table):
    return ws.run("%s | project RawData" % table).col("RawData")


def test_seed_parse_slurmctld_loses_most_real_lines(ws, doc):
    raw = _raw(ws, "slurmctld_raw_CL")
    rows = ws.run(doc["seed-parse-slurmctld"])
    assert rows.columns == ["TimeGenerated", "Computer", "Timestamp", "Level", "Component",
                            "Message"]
    by_msg = {r["Message"]: r for r in rows}
    # the reference document's sample: Component keeps the second space of "debug:  "
    s = by_msg[SAMPLE_BACKFILL]
    assert (s["Timestamp"], s["Level"], s["Component"]) == (
        "2025-09-08T21:11:35.869", "debug", " sched/backfill")
    # info lines have no level: with no ": ", or only one, the line is dropped ...
    kept = {r["Timestamp"] + " " + r["Message"] for r in rows}
    for gone in ("Running as primary controller", "Configured MailProg is invalid",
                 "_job_complete: JobId=102 WEXITSTATUS 1", "sched: Allocate JobId=102"):
        assert not [k for k in kept if gone in k], gone
        assert [line for line in raw if gone in line]
    # ... and with two, the component becomes the level
    assert {"select/cons_tres", "sched"} <= set(rows.col("Level"))
    # an error without a component: the message's first part becomes the component
    assert [r for r in rows if r["Level"] == "error" and r["Component"].startswith(
        "Could not open node state file")]
    assert len(rows) < len(raw) / 4


def _parse_slurm(ws, doc, table):
    query = doc["parse-slurm"]
    if table != "slurmctld_raw_CL":
        query = query.replace("slurmctld_raw_CL", table, 1)
    return ws.run(query)


def test_parse_slurm_corrected_keeps_every_line(ws, doc):
    raw = _raw(ws, "slurmctld_raw_CL")
    rows = _parse_slurm(ws, doc, "slurmctld_raw_CL")
    assert len(rows) == len(raw)
    got = {(r["Level"], r["Component"], r["Message"]) for r in rows}
    for expected in [
        ("debug", "sched/backfill", SAMPLE_BACKFILL),
        ("debug", "sackd_mgr_dump_state", "saved state of 0 nodes"),
        ("error", "", "Configured MailProg is invalid"),
        ("error", "mpi/pmix_v4",
         "init: (null) [0]: mpi_pmix.c:195: pmi/pmix: can not load PMIx library"),
        ("info", "", "Running as primary controller"),
        ("info", "sched", "Allocate JobId=102 NodeList=ccw-hpc-2 #CPUs=1 Partition=hpc"),
        ("info", "_job_complete", "JobId=102 WEXITSTATUS 1"),
        ("info", "_job_complete", "JobId=103_4(107) WEXITSTATUS 0"),
    ]:
        assert expected in got, expected
    errors = [r for r in rows if r["Level"] == "error"]
    assert len(errors) == len([line for line in raw if "] error: " in line])
    assert {r["Step"] for r in rows} == {""}
    assert {r["Computer"] for r in rows} == {SCHEDULER}
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}", r["Timestamp"])
               for r in rows)


def test_parse_slurm_corrected_on_slurmd(ws, doc):
    raw = _raw(ws, "slurmd_raw_CL")
    rows = _parse_slurm(ws, doc, "slurmd_raw_CL")
    assert len(rows) == len(raw)
    got = {(r["Step"], r["Level"], r["Component"], r["Message"]) for r in rows}
    for expected in [
        ("9.batch", "error", "", "*** JOB 9 ON localhost CANCELLED AT 2026-11-25T07:39:28 ***"),
        ("2.batch", "info", "", "done with job"),
        ("", "info", "", "Launching batch job 3 for UID 1002"),
        ("", "error", "mpi/pmix_v4",
         "init: (null) [0]: mpi_pmix.c:195: pmi/pmix: can not load PMIx library"),
        ("102.batch", "error", "", "Detected 1 oom_kill event in StepId=102.batch. Some of "
                                   "the step tasks have been OOM Killed."),
    ]:
        assert expected in got, expected


# --------------------------------------------------------------------------- syslog


def test_seed_parse_syslog_keeps_the_pid_and_loses_computer(ws, doc):
    rows = ws.run(doc["seed-parse-syslog"])
    assert doc["seed-parse-syslog"] in ws.shimmed
    assert rows.columns == ["TimeGenerated", "Computer", "Timestamp", "Process", "Message"]
    by_msg = {r["Message"]: r for r in rows}
    sshd = by_msg["Accepted publickey for alice from 10.1.0.4 port 50122 ssh2: ED25519 "
                  "SHA256:abc"]
    assert sshd["Process"] == "sshd[3310]"
    assert not [r for r in rows if r["Process"] == "sshd"]
    assert by_msg["[ 8123.456789] nvidia-nvswitch: probe of 0000:00:05.0 failed"][
        "Process"] == "kernel"
    # the traditional format (older Ubuntu): every field wrong, AMA's Computer gone
    ubuntu = by_msg["Starting Daily apt upgrade and clean activities..."]
    assert (ubuntu["Timestamp"], ubuntu["Computer"], ubuntu["Process"]) == (
        "Sep", "", "8 21:11:35 ccw-ubuntu-1 systemd[1]")
    assert "ccw-ubuntu-1" not in rows.col("Computer")


def test_parse_syslog_corrected(ws, doc):
    raw = _raw(ws, "syslog_raw_CL")
    rows = ws.run(doc["parse-syslog"])
    assert len(rows) == len(raw)
    got = {(r["Computer"], r["Host"], r["Process"], r["Pid"]) for r in rows}
    assert ("ccw-hpc-2", "ccw-hpc-2", "sshd", 3310) in got
    assert ("ccw-hpc-1", "ccw-hpc-1", "kernel", None) in got
    assert ("ccw-hpc-1", "ccw-hpc-1", "slurm-job-archive", 5021) in got
    assert ("ccw-ubuntu-1", "ccw-ubuntu-1", "systemd", 1) in got
    ubuntu = [r for r in rows if r["Computer"] == "ccw-ubuntu-1"]
    assert sorted(r["Timestamp"] for r in ubuntu) == ["Sep  8 21:11:35", "Sep  8 21:11:36"]
    assert {r["Message"] for r in rows if r["Process"] == "slurmd"} == {
        "error: Unable to register: Zero Bytes were transmitted or received"}


# --------------------------------------------------------------------------- take 10


def test_seed_take_10(ws, doc):
    statements = split_statements(doc["seed-take-10"])
    tables = ["slurmctld_raw_CL", "slurmd_raw_CL", "slurmjobs_raw_CL", "syslog_raw_CL"]
    assert len(statements) == len(tables)
    for statement, table in zip(statements, tables):
        assert table in statement
        rows = ws.run(statement)
        assert rows.columns == ["TimeGenerated", "RawData", "Computer", "FilePath"]
        total = ws.run("%s | count" % table)[0]["Count"]
        assert len(rows) == min(10, total) and len(rows) > 0
        assert set(rows.col("RawData")) <= set(_raw(ws, table))


# --------------------------------------------------------------------------- the engine shim


def test_leading_column_shim_matches_kusto_semantics(ws):
    """`parse X with Col "=" Rest`: Col from the start of X to the first "=", Rest the rest;
    no "=": both empty (Kusto's result for a string that doesn't match)."""
    query = 'slurmjobs_raw_CL | parse RawData with K "=" V | project RawData, K, V'
    assert shim_leading_column_parse(query) == (
        'slurmjobs_raw_CL | extend _sol = strcat("\\u0001", RawData) '
        '| parse _sol with "\\u0001" K "=" V | project-away _sol | project RawData, K, V')
    for r in ws.run(query):
        name, sep, value = r["RawData"].partition("=")
        assert (r["K"], r["V"]) == ((name, value) if sep else ("", "")), r["RawData"]
