"""Freshness from the workspace's own data: a cluster the controller set up, a simulated agent on
each machine, and the real LogsQueryClient through controller/azure/logs.py."""

from __future__ import annotations

import datetime as dt

import pytest

from controller.azure.clients import AzureClients, default_credential
from controller.azure.logs import LogsQueryFailed, LogsReader
from controller.azure.workspace import get_workspace
from controller.cli import main
from controller.doctor.freshness import HEARTBEAT_QUERY, QueryResult, freshness, records_query
from controller.settings import LOGS_ENDPOINTS, Cloud, Settings
from controller.simulator.logs import QUERY_OPERATION
from tests.support import RG, SUB

pytest.importorskip("duckdb_kql")

RULES = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Insights/dataCollectionRules"
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
T1 = T0 + dt.timedelta(minutes=10)
THRESHOLD = dt.timedelta(minutes=5)


def computer(sim, machine_id: str) -> str:
    return sim.get(machine_id)["properties"]["osProfile"]["computerName"]


@pytest.fixture
def cluster(sim, azure, monkeypatch):
    """The controller's own tables, DCRs and associations; then 5 minutes of agents up to T0 and
    5 more up to T1. hpc 0 never sends (silenced), htc 0 stops after T0 (stale), slurmd's pattern
    is edited to one with a directory wildcard (nothing collected); the rest are healthy."""
    monkeypatch.setenv("LOGS_ENDPOINT", azure.endpoint)
    assert main(["run", "--once"]) == 0
    rule = sim.get(f"{RULES}/slurmd_raw_dcr")
    rule["properties"]["dataSources"]["logFiles"][0]["filePatterns"] = ["/var/log/*/slurmd.log"]
    sim.put(f"{RULES}/slurmd_raw_dcr", rule)
    hpc = sim.vmss_members(sim.cluster.vmss_ids["hpc"])
    htc = sim.vmss_members(sim.cluster.vmss_ids["htc"])
    sim.never, sim.stale = hpc[0], htc[0]
    sim.healthy = [sim.cluster.scheduler_vm_id, hpc[1], hpc[2], htc[1]]
    sim.silence(sim.never, "no agent extension")
    sim.clock = lambda: T0
    sim.tick(5)
    sim.silence(sim.stale, "Arm64: no custom text logs")
    sim.clock = lambda: T1
    sim.tick(5)
    sim.reset_calls()
    sim.queries.clear()
    settings = Settings()
    credential = default_credential(settings)
    sim.customer_id = get_workspace(AzureClients(settings, credential).log_analytics, RG, "logs").customer_id
    sim.reader = LogsReader.from_settings(settings, credential)
    sim.tables = sorted(t["name"] for t in sim.list("table"))
    return sim


def node_tables(sim) -> set[str]:
    """The tables the node role's DCRs write to, as ARM has them."""
    prefix = sim.cluster.vmss_ids["hpc"] + "/providers/Microsoft.Insights/dataCollectionRuleAssociations/"
    rules = [sim.get(a["properties"]["dataCollectionRuleId"]) for a in sim.list(prefix)]
    return {r["properties"]["dataFlows"][0]["outputStream"].removeprefix("Custom-") for r in rules}


def test_per_machine_freshness_in_two_queries(cluster):
    sim = cluster
    found = freshness(sim.reader.query, sim.customer_id, sim.tables, T1)

    assert found.queries == 2 and sim.calls[QUERY_OPERATION] == 2 and len(sim.queries) == 2
    assert not found.partial and found.errors == ()
    for machine in sim.healthy:
        name = computer(sim, machine)
        assert found.silent(name, THRESHOLD) is False, name
        assert found.last_heartbeat(name) == T1
        assert found.resource_ids[name.lower()] == machine.lower()
        assert found.freshest(name)[1] == T1
    assert found.silent(computer(sim, sim.never), THRESHOLD) is True
    assert found.last_heartbeat(computer(sim, sim.never)) is None
    assert found.silent(computer(sim, sim.stale), THRESHOLD) is True
    assert found.last_heartbeat(computer(sim, sim.stale)) == T0
    assert found.silent(computer(sim, sim.stale), dt.timedelta(minutes=15)) is False

    # Per table: a healthy node has every node table but slurmd's, whose pattern collects nothing.
    nodes = node_tables(sim)
    assert "slurmd_raw_CL" in nodes and "slurmctld_raw_CL" not in nodes
    for machine in sim.healthy[1:]:
        name = computer(sim, machine)
        assert {t for t in sim.tables if found.last_record(name, t)} == nodes - {"slurmd_raw_CL"}
        assert found.stalest(name, nodes) == ("slurmd_raw_CL", None)
        assert found.freshest(name, nodes)[1] == T1
    assert found.last_record(computer(sim, sim.stale), "syslog_raw_CL") == T0
    assert found.last_record(computer(sim, sim.cluster.scheduler_vm_id), "slurmctld_raw_CL") == T1
    assert found.seconds_since_last_record("slurmd_raw_CL") is None
    assert found.seconds_since_last_record("syslog_raw_CL") == 0


def test_query_count_does_not_grow_with_the_cluster(cluster):
    sim = cluster
    sim.scale(sim.cluster.vmss_ids["hpc"], 40)
    sim.tick(1)
    found = freshness(sim.reader.query, sim.customer_id, sim.tables, T1)
    assert found.queries == 2 and sim.calls[QUERY_OPERATION] == 2
    assert sum(found.silent(computer(sim, m), THRESHOLD) is False
               for m in sim.vmss_members(sim.cluster.vmss_ids["hpc"])) == 39  # all but the silenced one


def test_partial_result_is_flagged_and_a_missing_machine_is_unknown(cluster):
    sim = cluster
    sim.partial_results(rows_kept=1, message="Query result set has exceeded the internal record count limit 1.")
    found = freshness(sim.reader.query, sim.customer_id, sim.tables, T1)
    assert found.partial and len(found.heartbeats) == 1
    assert "PartialError" in found.errors[0] and "record count limit 1" in found.errors[0]
    missing = next(m for m in sim.healthy if computer(sim, m).lower() not in found.heartbeats)
    assert found.silent(computer(sim, missing), THRESHOLD) is None
    assert found.silent(computer(sim, sim.never), THRESHOLD) is None  # unknown too: not proven silent


def test_throttled_once_is_retried_after_retry_after(cluster):
    sim = cluster
    sim.inject(QUERY_OPERATION, 429, times=1, retry_after=1)
    found = freshness(sim.reader.query, sim.customer_id, sim.tables, T1)
    assert found.queries == 2 and sim.calls[QUERY_OPERATION] == 3 and sim.throttled[QUERY_OPERATION] == 1
    assert found.silent(computer(sim, sim.healthy[0]), THRESHOLD) is False


def one_line_failure(sim) -> str:
    with pytest.raises(LogsQueryFailed) as failed:
        freshness(sim.reader.query, sim.customer_id, sim.tables, T1)
    message = str(failed.value)
    assert "\n" not in message and "workspace logs" in message
    return message


def test_refusals_are_one_line_naming_the_fix(cluster):
    sim = cluster
    sim.inject(QUERY_OPERATION, 403, times=1, code="InsufficientAccessError",
               message="The provided credentials have insufficient access to perform the requested operation")
    assert "grant the controller's identity Log Analytics Reader on workspace logs" in one_line_failure(sim)

    with pytest.raises(LogsQueryFailed, match="the query was refused: .*NoSuchTable"):
        sim.reader.query(sim.customer_id, "NoSuchTable | take 1", (T0, T1))

    sim.customer_id = "11111111-2222-3333-4444-555555555555"
    message = one_line_failure(sim)
    assert "WorkspaceNotFoundError" in message and "LOGS_ENDPOINT" in message


def test_persistent_throttling_ends_in_one_line(cluster):
    sim = cluster
    sim.inject(QUERY_OPERATION, 429, times=-1, retry_after=1)
    message = one_line_failure(sim)
    assert "429" in message and "run again" in message
    assert sim.calls[QUERY_OPERATION] == 3  # the first try and azure-core's two retries


def test_a_hung_query_times_out_in_one_line(cluster, monkeypatch):
    sim = cluster
    monkeypatch.setenv("HTTP_READ_TIMEOUT", "0.5")
    settings = Settings()
    sim.reader = LogsReader.from_settings(settings, default_credential(settings))
    sim.hang(QUERY_OPERATION, seconds=30, times=-1)
    try:
        assert "did not answer in time" in one_line_failure(sim)
    finally:
        sim.clear_faults()


def test_an_unreachable_endpoint_is_one_line(cluster, monkeypatch):
    sim = cluster
    monkeypatch.setenv("LOGS_ENDPOINT", "https://127.0.0.1:1")  # nothing listens on port 1
    settings = Settings()
    sim.reader = LogsReader.from_settings(settings, default_credential(settings))
    message = one_line_failure(sim)
    assert "cannot reach the Logs query API at https://127.0.0.1:1" in message and "LOGS_ENDPOINT" in message


def test_each_cloud_has_its_logs_endpoint(monkeypatch):
    monkeypatch.delenv("LOGS_ENDPOINT", raising=False)
    for cloud, endpoint in LOGS_ENDPOINTS.items():
        assert Settings(azure_cloud=cloud).logs_query_endpoint == endpoint
    assert Settings(azure_cloud=Cloud.CHINA).logs_query_endpoint == "https://api.loganalytics.azure.cn"
    assert Settings(logs_endpoint="https://logs.example:8443/").logs_query_endpoint == "https://logs.example:8443"


def test_without_tables_one_query_and_bad_names_are_refused():
    seen = []

    def run(customer_id, query, timespan):
        seen.append((query, timespan))
        return QueryResult(("Computer", "_ResourceId", "LastHeartbeat"), (("Node-1", "/x", "2026-03-01T12:00:00Z"),))

    found = freshness(run, "c", (), T1)
    assert found.queries == 1 and seen == [(HEARTBEAT_QUERY, (T1 - dt.timedelta(days=1), T1))]
    assert found.last_heartbeat("node-1") == T0 and found.freshest("node-1") is None and found.stalest("node-1") is None
    with pytest.raises(ValueError):
        records_query(["ok_CL", "bad | drop"])
