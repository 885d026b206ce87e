"""Every answer is bounded and says so; the KQL tool runs only read-only queries over a window."""

import json

import pytest

from tests.mcpserver.workspace_fill import LARGE_JOB
from tests.mcpserver.session import call, calls

SINCE = "2026-11-25T00:00:00Z"
UNTIL = "2026-11-26T00:00:00Z"


def compact(answer) -> int:
    return len(json.dumps(answer, separators=(",", ":")).encode())


def test_a_large_output_is_cut_to_the_budget_keeping_its_end(mcp):
    answer = call(mcp, "job_story", {"job_id": LARGE_JOB, "days": 31})
    assert answer["found"] and answer["truncated"]
    assert compact(answer) <= 8192
    assert answer["stdout_tail"][-1] == "LAST-LINE" and "FIRST-LINE" not in answer["stdout_tail"]
    assert "max_bytes" in answer["more"] and f"JobId == {LARGE_JOB}" in answer["more"]
    assert answer["time_range"]["start"] < answer["time_range"]["end"]
    assert "slurmjobs_CL" in answer["source"]["tables"] and answer["source"]["queries"] <= 3


def test_a_larger_budget_keeps_more(mcp):
    small, large = calls(mcp, ("job_story", {"job_id": LARGE_JOB, "days": 31}),
                         ("job_story", {"job_id": LARGE_JOB, "days": 31, "max_bytes": 32768}))
    assert 8192 < compact(large) <= 32768
    assert len(large["stdout_tail"]) >= len(small["stdout_tail"])


def test_an_unknown_job_is_said_so_with_how_to_look_further(mcp):
    answer = call(mcp, "job_story", {"job_id": 987654, "days": 31})
    assert not answer["found"] and "widen `days`" in answer["more"]


def test_the_real_logs_failed_job(mcp):
    answer = call(mcp, "job_story", {"job_id": 3, "days": 31})
    assert (answer["classification"]["category"], answer["exit_code"]) == ("non_zero_exit", 3)
    assert [e["line"]["message"] for e in answer["classification"]["evidence"]] == ["_job_complete: JobId=3 WEXITSTATUS 3"]
    assert answer["nodes"] == ["localhost"]


def test_failed_jobs_is_limited_and_says_so(mcp):
    everything, one = calls(mcp, ("failed_jobs", {"hours": 744}), ("failed_jobs", {"hours": 744, "limit": 1}))
    assert len(everything["jobs"]) > 1 and not everything["truncated"]
    assert one["truncated"] and one["jobs"] == everything["jobs"][-1:] and "raise `limit`" in one["more"]


def test_kql_rows_are_capped(mcp, filled):
    answer = call(mcp, "run_kql", {"kql": "slurmctld_CL | project TimeGenerated, Message", "since": SINCE,
                                   "until": UNTIL, "max_rows": 3})
    assert len(answer["rows"]) == 3 and answer["truncated"] and answer["columns"] == ["TimeGenerated", "Message"]
    assert filled.queries[-1].endswith("| take 4")
    assert answer["time_range"] == {"start": "2026-11-25T00:00:00Z", "end": "2026-11-26T00:00:00Z"}


def test_kql_bytes_are_capped(mcp):
    answer = call(mcp, "run_kql", {"kql": "slurmjobs_CL | project Message", "since": SINCE, "max_rows": 500,
                                   "max_bytes": 2048})
    assert answer["truncated"] and 0 < len(answer["rows"]) < 500 and compact(answer) <= 2048


def test_a_query_that_fits_is_not_truncated(mcp):
    answer = call(mcp, "run_kql", {"kql": "slurmctld_CL | where Message contains 'WEXITSTATUS 3' | project JobId",
                                   "since": SINCE, "until": UNTIL})
    assert answer["rows"] == [[3]] and not answer["truncated"]


@pytest.mark.parametrize("kql, refused", [
    (".show tables", "`.show` is a management command"),
    ("  .set-or-append T <| print 1", "`.set-or-append` is a management command"),
    ("slurmd_CL | take 1; .drop table slurmd_CL", "`.drop` is a management command"),
    ('workspace("other").slurmd_CL | take 1', "`workspace()` reaches outside this workspace"),
    ("externaldata (x:string) [@'https://example.org/x.csv']", "`externaldata()` reaches outside"),
    ("print x = 1 | evaluate sql_request('Server=tcp:db', 'select 1')", "`evaluate sql_request` reaches outside"),
    ("// only a comment", "the query is empty"),
])
def test_the_kql_guard_refuses_before_asking(mcp, filled, kql, refused):
    before = len(filled.queries)
    answer = call(mcp, "run_kql", {"kql": kql, "since": SINCE})
    assert isinstance(answer, str) and refused in answer, answer
    assert len(filled.queries) == before


def test_a_string_that_looks_like_a_command_is_a_string(mcp):
    answer = call(mcp, "run_kql", {"kql": 'slurmctld_CL | where Message contains ".show" | count', "since": SINCE})
    assert answer["rows"] == [[0]]


@pytest.mark.parametrize("window, refused", [
    ({}, "since"),  # no window: the schema requires `since`
    ({"since": "2026-10-01T00:00:00Z", "until": "2026-11-26T00:00:00Z"}, "at most 31"),
    ({"since": "2026-11-26T00:00:00Z", "until": "2026-11-25T00:00:00Z"}, "before it starts"),
])
def test_the_kql_tool_needs_a_bounded_window(mcp, filled, window, refused):
    before = len(filled.queries)
    answer = call(mcp, "run_kql", {"kql": "slurmd_CL | take 1", **window})
    assert isinstance(answer, str) and refused in answer, answer
    assert len(filled.queries) == before


def test_a_query_the_workspace_refuses_is_one_line(mcp):
    answer = call(mcp, "run_kql", {"kql": "no_such_table_CL | take 1", "since": SINCE})
    assert isinstance(answer, str) and "the query was refused" in answer and "\n" not in answer


def test_tables_and_their_columns_are_the_workspaces(filled, mcp):
    answer = call(mcp, "list_tables", {"max_bytes": 65536})
    tables = {t["name"]: t for t in answer["tables"]}
    made = {t["name"]: t["properties"]["schema"]["columns"] for t in filled.list("table")}
    assert set(tables) == set(made)  # every table `run --once` made, and no other
    for name, table in tables.items():  # the columns and types the tables were made with
        assert [(c["name"], c["type"]) for c in table["columns"]] == [(c["name"], c["type"].lower()) for c in made[name]], name
    assert {"User", "FileKind", "JobId"} <= {c["name"] for c in tables["slurmjobs_CL"]["columns"]}
    assert [c["name"] for c in tables["slurmd_raw_CL"]["columns"]] == ["TimeGenerated", "RawData", "Computer", "FilePath"]
    assert not answer["truncated"]
    small = call(mcp, "list_tables", {"max_bytes": 2048})
    assert small["truncated"] and compact(small) <= 2048


@pytest.mark.parametrize("tool, arguments, says", [
    ("job_story", {"job_id": -1}, "job_story: job_id: Input should be greater than or equal to 1"),
    ("job_story", {}, "job_story: job_id: Field required"),
    ("failed_jobs", {"limit": 10**9}, "failed_jobs: limit: Input should be less than or equal to 500"),
    ("run_kql", {"kql": "slurmd_CL | take 1", "since": "yesterday"}, "run_kql: since: Input should be a valid datetime"),
])
def test_arguments_outside_the_schema_are_one_line_naming_the_field(mcp, tool, arguments, says):
    answer = call(mcp, tool, arguments)
    assert isinstance(answer, str) and answer.startswith(says), answer
    assert "\n" not in answer and "pydantic" not in answer and "yesterday" not in answer
