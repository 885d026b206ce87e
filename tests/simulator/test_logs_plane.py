"""The simulator's Logs data plane: the query endpoint through the real LogsQueryClient, and the
simulated agent writing only what its associations, patterns and health allow."""

from __future__ import annotations

import datetime as dt

import pytest
from azure.core.exceptions import HttpResponseError
from azure.monitor.query import LogsQueryClient, LogsQueryPartialResult, LogsQueryResult

from controller.simulator.logs import AGENT_CATEGORY, LOGS_PATH_PREFIX, QUERY_OPERATION, directory_wildcard
from tests.simulator.bodies import RG, dcr_body, make_table

pytest.importorskip("duckdb_kql")


@pytest.fixture
def logs(world):
    """The world with slurmd_raw_CL, a DCR for it associated with the hpc scale set, and a
    LogsQueryClient on the simulator's own endpoint."""
    make_table(world)
    rule = world.mon.data_collection_rules.create(RG, "slurmd_raw_dcr", dcr_body(world.ws_id))
    world.mon.data_collection_rule_associations.create(
        world.cluster.vmss_ids["hpc"], "hpc-slurmd", {"properties": {"dataCollectionRuleId": rule.id}})
    world.customer_id = world.get(world.ws_id)["properties"]["customerId"]
    world.logs = LogsQueryClient(world.credential(), endpoint=world.server.endpoint,
                                 connection_verify=world.server.ca_path)
    return world


def hpc_computers(sim) -> set[str]:
    return {sim.get(i)["properties"]["osProfile"]["computerName"] for i in sim.vmss_members(sim.cluster.vmss_ids["hpc"])}


def test_query_answers_the_sdk_with_tables_columns_and_rows(logs):
    logs.tick(3)
    now = logs.clock()
    answer = logs.logs.query_workspace(
        logs.customer_id, "Heartbeat | summarize Beats = count(), Last = max(TimeGenerated) by Computer",
        timespan=(now - dt.timedelta(minutes=10), now))
    assert isinstance(answer, LogsQueryResult)
    table = answer.tables[0]
    assert table.name == "PrimaryResult"
    assert table.columns == ["Computer", "Beats", "Last"]
    assert table.columns_types == ["string", "long", "datetime"]
    assert {row["Computer"]: row["Beats"] for row in table.rows} == {c: 3 for c in hpc_computers(logs)}
    assert all(abs((row["Last"] - now).total_seconds()) < 1 for row in table.rows)  # the SDK parsed the datetime

    # The timespan is applied before the query runs: 90 s back holds the last two minutes' rows.
    recent = logs.logs.query_workspace(logs.customer_id, "slurmd_raw_CL | summarize n = count()",
                                       timespan=(now - dt.timedelta(seconds=90), now))
    assert recent.tables[0].rows[0]["n"] == 2 * len(hpc_computers(logs))
    assert logs.calls[QUERY_OPERATION] == 2


def test_agent_writes_only_what_it_may(logs):
    hpc = logs.vmss_members(logs.cluster.vmss_ids["hpc"])
    silenced = hpc[0]
    logs.silence(silenced, "no agent extension")
    # A second DCR whose pattern has a wildcard in a directory: associated, yet it collects nothing.
    make_table(logs, "jetpack_raw_CL")
    wildcard = dcr_body(logs.ws_id, "jetpack")
    wildcard["properties"]["dataSources"]["logFiles"][0]["filePatterns"] = ["/opt/cycle/*/logs/jetpack.log"]
    rule = logs.mon.data_collection_rules.create(RG, "jetpack_raw_dcr", wildcard)
    logs.mon.data_collection_rule_associations.create(
        logs.cluster.vmss_ids["hpc"], "hpc-jetpack", {"properties": {"dataCollectionRuleId": rule.id}})
    # A DCR whose table was deleted after it was made: ingestion is dropped.
    make_table(logs, "dmesg_raw_CL")
    missing = logs.mon.data_collection_rules.create(RG, "dmesg_raw_dcr", dcr_body(logs.ws_id, "dmesg"))
    logs.remove(f"{logs.ws_id}/tables/dmesg_raw_CL")
    logs.mon.data_collection_rule_associations.create(
        logs.cluster.vmss_ids["hpc"], "hpc-dmesg", {"properties": {"dataCollectionRuleId": missing.id}})

    logs.tick(2)

    sending = [logs.get(i) for i in hpc[1:]]
    beats = logs.log_rows(logs.ws_id, "Heartbeat")
    # Only the associated, unsilenced machines beat: not the scheduler, not htc, not the silenced one.
    assert sorted(r["_ResourceId"] for r in beats) == sorted(m["id"].lower() for m in sending for _ in range(2))
    assert {r["Category"] for r in beats} == {AGENT_CATEGORY}
    rows = logs.log_rows(logs.ws_id, "slurmd_raw_CL")
    assert sorted(r["Computer"] for r in rows) == sorted(m["properties"]["osProfile"]["computerName"]
                                                        for m in sending for _ in range(2))
    assert {r["FilePath"] for r in rows} == {"/var/log/slurmd/slurmd.log"}
    assert logs.log_rows(logs.ws_id, "jetpack_raw_CL") == []
    assert logs.log_rows(logs.ws_id, "dmesg_raw_CL") == []

    # Back in order, it sends again; the rows it missed stay missed.
    logs.unsilence(silenced)
    logs.tick()
    assert sum(r["_ResourceId"] == silenced.lower() for r in logs.log_rows(logs.ws_id, "Heartbeat")) == 1


def test_directory_wildcards():
    assert directory_wildcard("/opt/cycle/*/logs/jetpack.log")
    assert directory_wildcard("/var/log/slurm?/slurmd.log")
    assert not directory_wildcard("/shared/slurm-logs/*out")
    assert not directory_wildcard("/var/log/slurmd/slurmd.log")


def test_partial_result_has_the_rows_so_far_and_the_reason(logs):
    logs.tick(1)
    logs.partial_results(rows_kept=1, message="Query result set has exceeded the internal record count limit 1.")
    answer = logs.logs.query_workspace(logs.customer_id, "Heartbeat | project Computer", timespan=None)
    assert isinstance(answer, LogsQueryPartialResult)
    assert len(answer.partial_data[0].rows) == 1
    assert answer.partial_error.code == "PartialError"
    assert "record count limit 1" in answer.partial_error.details[0]["innererror"]["message"]
    # one partial answer only
    full = logs.logs.query_workspace(logs.customer_id, "Heartbeat | project Computer", timespan=None)
    assert isinstance(full, LogsQueryResult) and len(full.tables[0].rows) == len(hpc_computers(logs))


def test_refusals_are_kusto_shaped(logs):
    with pytest.raises(HttpResponseError) as refused:
        logs.logs.query_workspace(logs.customer_id, "NoSuchTable | take 1", timespan=None)
    assert refused.value.status_code == 400
    assert refused.value.error.code == "BadArgumentError"
    assert refused.value.error.innererror["code"] == "SemanticError"

    with pytest.raises(HttpResponseError) as unknown:
        logs.logs.query_workspace("11111111-2222-3333-4444-555555555555", "Heartbeat", timespan=None)
    assert unknown.value.status_code == 404 and unknown.value.error.code == "WorkspaceNotFoundError"

    path = f"{LOGS_PATH_PREFIX}{logs.customer_id}/query"
    no_token = logs.handle("POST", path, {}, b'{"query": "Heartbeat"}', logs.server.endpoint)
    bad_token = logs.handle("POST", path, {"Authorization": "Bearer forged"}, b'{"query": "Heartbeat"}',
                            logs.server.endpoint)
    assert (no_token.status, bad_token.status) == (401, 401)
    assert logs.queries == ["NoSuchTable | take 1"]  # the engine saw only the one it refused


def test_throttled_query_is_retried_after_retry_after(logs):
    logs.tick(1)
    logs.inject(QUERY_OPERATION, 429, times=1, retry_after=1)  # whole seconds, as Azure sends them
    answer = logs.logs.query_workspace(logs.customer_id, "Heartbeat | count", timespan=None)
    assert answer.tables[0].rows[0][0] == len(hpc_computers(logs))
    assert logs.calls[QUERY_OPERATION] == 2 and logs.throttled[QUERY_OPERATION] == 1
