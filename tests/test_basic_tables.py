"""A query of a Basic table is limited to that one table and calls no function
(learn.microsoft.com azure-monitor/logs/basic-logs-query): the simulator refuses the rest, and
doctor's records query (a union) reads the component tables that are on the Analytics plan."""

from __future__ import annotations

import json

import pytest

from controller.cli import main
from controller.simulator.logs import refuse_basic_beside_others
from controller.simulator.logs_engine import QueryRefused


def test_the_simulator_refuses_a_basic_table_beside_another_or_in_a_function():
    basic, names = {"slurmd_raw_CL"}, ["Heartbeat", "slurmd_raw_CL", "slurmd_CL", "syslog_raw_CL"]
    refuse_basic_beside_others("slurmd_raw_CL | where RawData has 'error'", basic, names, {})  # alone: fine
    refuse_basic_beside_others("union slurmd_CL, syslog_raw_CL | count", basic, names, {})  # no Basic one
    with pytest.raises(QueryRefused, match="'slurmd_raw_CL' is on the Basic plan.*syslog_raw_CL"):
        refuse_basic_beside_others("union slurmd_raw_CL, syslog_raw_CL | count", basic, names, {})
    with pytest.raises(QueryRefused, match="calls no function.*SlurmJob"):
        refuse_basic_beside_others("slurmd_raw_CL | join (SlurmJob(3)) on Computer", basic, names, {"SlurmJob": None})


def doctor_json(capsys) -> tuple[int, dict, str]:
    code = main(["doctor", "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


@pytest.mark.parametrize("raw_plan, parsed_plan, asked", [
    ("Analytics", "Analytics", "slurmctld_raw_CL"),
    ("Basic", "Analytics", "slurmctld_CL"),
    ("Basic", "Basic", None),
])
def test_doctor_asks_the_analytics_tables(azure, sim, monkeypatch, capsys, raw_plan, parsed_plan, asked):
    monkeypatch.setenv("TABLE_PLAN", raw_plan)
    monkeypatch.setenv("PARSED_TABLE_PLAN", parsed_plan)
    assert main(["run", "--once"]) == 0
    sim.tick(3)
    sim.queries.clear()
    capsys.readouterr()
    code, report, err = doctor_json(capsys)
    assert code == 0 and "warning" not in err, err
    assert all(m["heartbeat"].endswith("s ago") for m in report["machines"])
    if asked is None:
        assert len(sim.queries) == 1  # heartbeats only: every component table is Basic
    else:
        assert len(sim.queries) == 2 and asked in sim.queries[1]
        assert raw_plan == "Analytics" or "_raw_CL" not in sim.queries[1]  # no Basic table in the union
