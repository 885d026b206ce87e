"""What the logs say: one line per Azure request at -v, bodies at -vv, JSON lines, and the
daemon's audit of every change it made."""

from __future__ import annotations

import json
import re
import signal

from controller.cli import main
from tests.support import RG, SUB
from tests.test_daemon import daemon, output, wait_for  # noqa: F401  (fixture)

REQUEST_LINE = re.compile(
    r"^\S+ \S+ INFO slurm-log-controller\.requests: (GET|PUT) (/subscriptions/[^ ?]+) (\d{3}) \d+ ms retries=(\d+)$"
)
SCHEDULER_DCRS, NODE_DCRS = 8, 5
PROGRESS_LINE = re.compile(r"^applied \d+/\d+, ")  # run --once's progress, off a terminal


def logged(err: str) -> list[str]:
    """stderr's lines, less the apply's progress."""
    return [line for line in err.splitlines() if not PROGRESS_LINE.match(line)]


def test_no_v_prints_no_request_lines(sim, azure, capsys):
    assert main(["run", "--once"]) == 0
    assert logged(capsys.readouterr().err) == []


def test_v_prints_one_line_per_request_instead_of_azure_cores_dump(sim, azure, capsys):
    assert main(["run", "--once", "-v"]) == 0
    lines = logged(capsys.readouterr().err)
    matched = [REQUEST_LINE.match(line) for line in lines]
    assert all(matched), [line for line, m in zip(lines, matched) if not m][:3]
    # every request the simulator answered (LRO polls included), each once; and nothing else
    assert len(lines) == sum(sim.calls.values()) > 80
    statuses = {m[3] for m in matched}
    assert {"200", "201", "202"} <= statuses


def test_v_counts_the_retries_of_a_request(sim, azure, capsys):
    sim.inject("Workspaces_Get", status=503, times=2, retry_after=0)
    assert main(["plan", "-v"]) == 3
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == sum(sim.calls.values()) - 2  # the two retries are one request
    (workspace,) = [m for m in map(REQUEST_LINE.match, lines) if m[2].endswith("/workspaces/logs")]
    assert workspace[3] == "200" and workspace[4] == "2"


def test_vv_includes_the_bodies(sim, azure, capsys):
    assert main(["plan", "-vv"]) == 3
    err = capsys.readouterr().err
    assert re.search(r'response body: \{.*"customerId"', err)  # the workspace GET's answer
    assert "Request URL" in err  # azure-core's own dump only at -vv


def test_vv_leaves_the_streamed_answers_of_long_running_operations_to_the_sdk(sim, azure, capsys):
    """A table creation's first answer is streamed: logging its body would read it away."""
    assert main(["run", "--once", "-vv"]) == 0
    assert "response body: (streamed to the SDK, not logged)" in capsys.readouterr().err


def test_log_format_json_is_one_object_per_line(sim, azure, monkeypatch, capsys):
    monkeypatch.setenv("LOG_FORMAT", "json")
    assert main(["plan", "-v"]) == 3
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert len(records) == sum(sim.calls.values())
    for record in records:
        assert {"time", "level", "logger", "message", "method", "path", "status", "retries"} <= record.keys()
        assert record["logger"] == "slurm-log-controller.requests" and record["message"].startswith(record["method"])


def changes_logged(log: str) -> list[dict]:
    return [r for r in map(json.loads, log.splitlines()) if "outcome" in r]


def test_the_daemon_names_each_change_and_why_and_samples_at_scale(sim, daemon):  # noqa: F811
    htc = sim.cluster.vmss_ids["htc"]
    sim.scale(htc, 40)
    proc = daemon(LOG_FORMAT="json")
    associations = SCHEDULER_DCRS + NODE_DCRS * (1 + 40)
    wait_for(lambda: len(changes_logged(output(proc))) >= 10 + 1 + 10 + 10 + 1, timeout=60)
    first = changes_logged(output(proc))
    tables = [r for r in first if r["kind"] == "table" and "name" in r]  # 20: a raw and a parsed one per component
    assert len(tables) == 10 and {r["name"] for r in tables} < {t["name"] for t in sim.list("table")}
    assert all(r["action"] == "create" and r["outcome"] == "applied" and r["reason"] == "missing" for r in tables)
    assert all(r["message"] == f"applied: + table {r['name']} (missing)" for r in tables)
    assert len([r for r in first if r["kind"] == "dcr"]) == 10
    named = [r for r in first if r["kind"] == "association" and "name" in r]
    (more_tables,) = [r for r in first if "more" in r and r["kind"] == "table"]
    assert more_tables["more"] == 10
    (more,) = [r for r in first if "more" in r and r["kind"] == "association"]
    assert len(named) == 10 and all(r["target"] for r in named)
    assert more["more"] == associations - 10
    assert more["message"] == f"applied: ... and {associations - 10} more association creates"

    # next passes: one new VM (5 associations, each named) and a DCR edited by hand (its fields named)
    rule = next(r["id"] for r in sim.list("dcr") if r["name"] == "slurmd_raw_dcr")
    edited = sim.get(rule)
    edited["properties"]["dataSources"]["logFiles"][0]["filePatterns"] = ["/tmp/slurmd.log"]
    sim.put(rule, edited)
    (new_vm,) = sim.scale(htc, 41)
    wait_for(lambda: len(changes_logged(output(proc))) >= len(first) + 6, timeout=30)
    later = changes_logged(output(proc))[len(first):]
    (update,) = [r for r in later if r["action"] == "update"]
    assert update["name"] == "slurmd_raw_dcr" and update["reason"] == "drifted: filePatterns"
    new = [r for r in later if r["action"] == "create"]
    assert len(new) == NODE_DCRS and {r["target"] for r in new} == {new_vm}
    assert all(f"on {new_vm.rsplit('/', 1)[1]} (missing)" in r["message"] for r in new)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    for line in output(proc).splitlines():  # every line of the daemon is JSON
        json.loads(line)


def test_the_daemon_logs_each_failure_with_azures_reason_bounded(sim, daemon):  # noqa: F811
    sim.inject("DataCollectionRuleAssociations_Create", status=403, times=-1, code="AuthorizationFailed",
               message="The client does not have authorization to perform action")
    proc = daemon()
    failures = SCHEDULER_DCRS + NODE_DCRS * (1 + 2)
    wait_for(lambda: f"and {failures - 10} more association creates" in output(proc), timeout=30)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    first_pass = output(proc).split(" more association creates")[0]
    failed = [line for line in first_pass.splitlines() if " WARNING " in line and "failed: + association" in line]
    assert len(failed) == 10
    assert all(
        "(missing): 403 AuthorizationFailed: The client does not have authorization to perform action; "
        f"grant the controller's identity Monitoring Contributor on resource group {RG}" in line
        for line in failed
    )


def test_the_daemon_logs_what_is_in_its_way_every_pass(sim, daemon):  # noqa: F811
    """A DCR with our name and no ownership mark: a WARNING naming it and the way out, each pass."""
    rules = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Insights/dataCollectionRules"
    proc = daemon(LOG_FORMAT="json")
    wait_for(lambda: sim.get(f"{rules}/dmesg_raw_dcr") is not None, timeout=30)
    foreign = sim.get(f"{rules}/dmesg_raw_dcr")
    foreign["tags"] = {}
    sim.put(foreign["id"], foreign)
    wait_for(lambda: sum('"outcome": "blocked"' in line for line in output(proc).splitlines()) >= 2, timeout=30)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    blocked = [r for r in map(json.loads, output(proc).splitlines()) if r.get("outcome") == "blocked"]
    assert all(r["level"] == "WARNING" and r["name"] == "dmesg_raw_dcr" and r["owner"] is None for r in blocked)
    assert "ADOPT=unowned" in blocked[0]["message"] and blocked[0]["withheld"] == 0
    assert sim.get(f"{rules}/dmesg_raw_dcr")["tags"] == {}  # left alone


def test_v_prints_a_line_per_logs_query_too(sim, azure, capsys):
    assert main(["run", "--once"]) == 0
    sim.tick(2)
    capsys.readouterr()
    assert main(["doctor", "-v"]) == 0
    queries = [line for line in capsys.readouterr().err.splitlines()
               if re.search(r"requests: POST /v1/workspaces/[0-9a-f-]+/query 200 \d+ ms retries=0$", line)]
    assert len(queries) == 2
