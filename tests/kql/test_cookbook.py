"""The recipes of docs/queries.md that aren't seed queries, run on the same workspace as
test_seed_queries.py; and the check that every ```kql block of the doc is run by a test."""

import datetime as dt
import pathlib
import re


from tests.kql.workspace import DOC, archive


def with_let(query, name, value):
    """The doc's query with `let name = "...";` set to value."""
    new, n = re.subn(r'let %s = "[^"]*";' % name, 'let %s = "%s";' % (name, value), query)
    assert n == 1, name
    return new


def test_every_doc_query_is_tested(doc):
    here = pathlib.Path(__file__).resolve().parent
    used = set()
    for test_file in here.glob("test_*.py"):
        used |= set(re.findall(r'doc\["([\w-]+)"\]', test_file.read_text()))
    assert set(doc) == used


def test_job_lifecycle(ws, doc):
    rows = ws.run(doc["job-lifecycle"])
    assert [r["RawData"].split("] ", 1)[1] for r in rows] == [
        "_slurm_rpc_submit_batch_job: JobId=102 InitPrio=4294901759 usec=230",
        "sched: Allocate JobId=102 NodeList=ccw-hpc-2 #CPUs=1 Partition=hpc",
        "_job_complete: JobId=102 WEXITSTATUS 1",
        "_job_complete: JobId=102 done",
    ]
    # an array job id: all its tasks; a task: that one
    array = ws.run(with_let(doc["job-lifecycle"], "jobid", "103")).col("RawData")
    assert any("JobId=103_4(107) WEXITSTATUS 0" in line for line in array)
    task = ws.run(with_let(doc["job-lifecycle"], "jobid", "103_4")).col("RawData")
    assert len(task) == 3 and all("JobId=103_4(107)" in line for line in task)
    # JobId=1 (the real log's job 1) never matches JobId=101/102/107
    one = ws.run(with_let(doc["job-lifecycle"], "jobid", "1")).col("RawData")
    assert one and all(re.search(r"JobId=1(\D|$)", line) for line in one)
    assert not [line for line in one if re.search(r"JobId=1\d", line)]


def test_everything_about_one_job_in_order(ws, doc):
    for job, parts in (("102", ["sh", "env", "out", "err"]), ("103_4", ["sh", "env", "out"])):
        files = {f["part"]: f for f in archive(ws.sja, ws.layout) if f["job"] == job}
        rows = ws.run(with_let(doc["job-everything"], "jobid", job))
        assert [(r["Part"], r["RawData"]) for r in rows] == [
            (part, line) for part in parts for line in files[part]["lines"]]
        assert {r["JobId"] for r in rows} == {job}
        assert {r["User"] for r in rows} == {"alice"}


# How the cookbook takes User from FilePath: the flat layout's way in every recipe, and the
# line docs/queries.md says to put instead for the per-user layout.
FLAT_USER = 'User = extract(@"/job_[0-9_]+\\.([^/]+)\\.[a-z]+$", 1, FilePath)'
PER_USER_USER = 'User = extract(@"/([^/]+)/job_[^/]+$", 1, FilePath)'


def _sorted_rows(rows):
    return sorted(tuple(sorted((k, str(v)) for k, v in r.items())) for r in rows)


def test_recipes_give_the_same_answers_in_the_per_user_layout(ws, ws_per_user, doc):
    """Every recipe on the job archive answers alike for both layouts, with the doc's one
    change for the per-user layout (User), and only with it."""
    text = DOC.read_text()
    assert PER_USER_USER in text
    recipes = {n: q for n, q in doc.items() if "slurmjobs_raw_CL" in q and
               not n.startswith("seed-")}
    with_user = [n for n, q in recipes.items() if FLAT_USER in q]
    assert len(recipes) == 7 and len(with_user) == 5
    for name in with_user:  # the line the doc explains is the one the recipes use
        (line,) = [l for l in recipes[name].splitlines() if FLAT_USER in l]
        assert "\n  %s\n" % line[2:] in text, name
    for name, query in recipes.items():
        flat = ws.run(query)
        per_user = ws_per_user.run(query.replace(FLAT_USER, PER_USER_USER))
        assert flat and _sorted_rows(flat) == _sorted_rows(per_user), name
        if name in with_user:  # the flat layout's User is wrong for per-user paths
            assert {r["User"] for r in ws_per_user.run(query)} == {""}, name


def test_everything_about_a_job_of_a_dotted_user(ws, doc):
    rows = ws.run(with_let(doc["job-everything"], "jobid", "201"))
    assert {(r["User"], r["JobId"]) for r in rows} == {("a.shah", "201")}
    parts = [r["Part"] for r in rows]
    assert sorted(set(parts), key=parts.index) == ["sh", "env", "out"]


def test_jobs_with_stderr_in_the_last_day(ws, doc):
    rows = ws.run(doc["jobs-with-stderr"])
    assert [(r["User"], r["JobId"], r["Lines"]) for r in rows] == [
        ("alice", "102", 5), ("alice", "101", 1)]  # not job 90: two days old


def test_slurmd_errors_around_the_jobs_end(ws, doc):
    rows = ws.run(doc["slurmd-errors-around-job-end"])
    # not the error on the same node 2 hours earlier, not the one on ccw-hpc-1 at that time
    assert [(r["Computer"], r["RawData"].split("] ", 1)[1]) for r in rows] == [
        ("ccw-hpc-2", "[102.batch] error: Detected 1 oom_kill event in StepId=102.batch. Some "
                      "of the step tasks have been OOM Killed.")]
    assert abs(rows[0]["JobEnd"] - rows[0]["TimeGenerated"]) < dt.timedelta(minutes=1)
    rows = ws.run(with_let(doc["slurmd-errors-around-job-end"], "jobid", "106"))
    assert [r["Computer"] for r in rows] == ["ccw-hpc-3"]
    assert "DUE TO TIME LIMIT" in rows[0]["RawData"]
    # job 201 ran on ccw-hpc-2 too, but ended 12 minutes after that node's last error
    assert not ws.run(with_let(doc["slurmd-errors-around-job-end"], "jobid", "201"))


def test_silent_nodes(ws, doc):
    rows = ws.run(doc["silent-nodes"])
    assert [r["Computer"] for r in rows] == ["ccw-hpc-3"]
    assert dt.timedelta(hours=2) <= rows[0]["SilentFor"] < dt.timedelta(hours=2, minutes=5)


# --------------------------------------------------------------------------- the functions


def test_a_jobs_story_is_its_lines_in_every_table_and_nothing_of_another_job(ws, doc):
    rows = ws.run(doc["fn-job-story"])
    assert {r["JobId"] for r in rows} == {102}  # no line of its node without a job in that window here
    assert {r["SourceTable"] for r in rows} == {"slurmctld_CL", "slurmd_CL", "slurmjobs_CL"}
    files = {f["part"]: f["lines"] for f in archive(ws.sja, ws.layout) if f["job"] == "102"}
    assert [r["Message"] for r in rows if r["SourceTable"] == "slurmjobs_CL"] == [
        line for part in ("env", "err", "out", "sh") for line in files[part]]
    assert [r["Message"] for r in rows if r["SourceTable"] == "slurmctld_CL"][:2] == [
        "_slurm_rpc_submit_batch_job: JobId=102 InitPrio=4294901759 usec=230",
        "sched: Allocate JobId=102 NodeList=ccw-hpc-2 #CPUs=1 Partition=hpc"]
    # the error on the same node two hours earlier and the one on ccw-hpc-1 at the same time are not its own
    assert not [r for r in rows if "Unable to register" in r["Message"] or r["Computer"] == "ccw-hpc-1"]


def test_a_jobs_errors_and_stderr(ws, doc):
    assert [(r["SourceTable"], r["Process"], r["Message"][:30]) for r in ws.run(doc["fn-job-errors"])] == [
        ("slurmd_CL", "slurmstepd", "Detected 1 oom_kill event in S")]
    stderr = [r["Message"] for r in ws.run(doc["fn-job-stderr"])]
    assert stderr[0] == "Traceback (most recent call last):" and len(stderr) == 5


def test_an_array_task_by_its_own_id(ws):
    rows = ws.run("SlurmJob(107)")
    assert [r["Message"].split(" ", 2)[1] for r in rows if r["SourceTable"] == "slurmctld_CL"] == [
        "Allocate", "JobId=103_4(107)", "JobId=103_4(107)"]
    # its archive files, job_103_4.*, carry no JobId: found by the array ids slurmctld gives task 107
    files = {f["part"]: f["lines"] for f in archive(ws.sja, ws.layout) if f["job"] == "103_4"}
    assert [r["Message"] for r in rows if r["SourceTable"] == "slurmjobs_CL"] == [
        line for part in ("env", "out", "sh") for line in files[part]]
    assert not ws.run("SlurmJob(103) | where SourceTable == 'slurmjobs_CL'")  # the array job is not its task


def test_failed_jobs_of_the_last_day(ws, doc):
    rows = ws.run(doc["fn-failed-jobs"])
    assert [(r["JobId"], r["State"], r["ExitCode"], r["Nodes"]) for r in rows] == [
        (106, "TIMEOUT", None, "ccw-hpc-3"), (102, "FAILED", 1, "ccw-hpc-2")]  # newest first


def test_a_nodes_errors_from_every_table(ws, doc):
    rows = ws.run(doc["fn-node-errors"])
    assert [(r["SourceTable"], r["Process"]) for r in rows] == [("slurmd_CL", "slurmstepd"), ("syslog_CL", "slurmd")]
    assert rows[1]["Message"] == "Unable to register: Zero Bytes were transmitted or received"


def test_errors_by_node_from_the_parsed_tables(ws, doc):
    rows = ws.run(doc["parsed-errors-by-node"])
    assert {(r["Computer"], r["Process"]): r["Errors"] for r in rows} == {
        ("ccw-hpc-2", "slurmstepd"): 1, ("ccw-hpc-2", "slurmd"): 2, ("ccw-hpc-1", "slurmd"): 1,
        ("ccw-hpc-3", "slurmstepd"): 1}
