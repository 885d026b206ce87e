"""The parsed tables `<pattern>_CL` end to end: `run` makes them beside the raw ones with a second
data flow in each DCR, the simulated agent sends real lines through both, and a raw-only DCR of
an earlier version is migrated by an update."""

from __future__ import annotations

import datetime as dt
import pathlib

from controller.cli import main
from controller.components import load_components
from controller.resources import DataCollectionRule
from tests.support import RG

DATA = pathlib.Path(__file__).parent / "kql" / "data"
SLURMCTLD = "/var/log/slurmctld/slurmctld.log"


def _workspace(sim) -> str:
    return next(w["id"] for w in sim.list("workspace"))


def _rule(sim, name: str) -> dict:
    return next(d for d in sim.list("dcr") if d["name"] == name)


def test_run_makes_a_parsed_table_and_a_second_data_flow_per_component(sim, azure):
    assert main(["run", "--once"]) == 0
    components = load_components()
    tables = {t["name"]: t for t in sim.list("table")}
    for c in components:
        assert c.table in tables and c.parsed_table in tables
        flows = _rule(sim, c.rule)["properties"]["dataFlows"]
        assert [(f["outputStream"], f["streams"]) for f in flows] == [
            (f"Custom-{c.table}", [c.input_stream]), (f"Custom-{c.parsed_table}", [c.input_stream])]
        assert flows[1]["transformKql"] == c.transform_kql
    columns = [(col["name"], col["type"]) for col in tables["slurmjobs_CL"]["properties"]["schema"]["columns"]]
    assert columns[:8] == [("TimeGenerated", "dateTime"), ("Computer", "string"), ("FilePath", "string"),
                           ("Level", "string"), ("Process", "string"), ("JobId", "long"), ("StepId", "string"),
                           ("Message", "string")]
    assert ("User", "string") in columns and ("FileKind", "string") in columns
    assert main(["plan"]) == 0


def test_real_slurmctld_lines_land_raw_and_parsed_with_their_own_timestamps(sim, azure):
    assert main(["run", "--once"]) == 0
    now = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone.utc)
    sim.clock = lambda: now
    lines = (DATA / "slurmctld.log").read_text().splitlines() + ["a line in no format"]
    sim.append_lines(sim.cluster.scheduler_vm_id, SLURMCTLD, lines)
    sim.tick()
    ws = _workspace(sim)
    raw = [r for r in sim.log_rows(ws, "slurmctld_raw_CL") if not r["RawData"].startswith("simulated line")]
    parsed = sim.log_rows(ws, "slurmctld_CL")
    assert [r["RawData"] for r in raw] == lines
    assert len(parsed) == len(lines)  # every line kept
    first = parsed[0]
    # The bracketed stamp is the row's time: a transform that missed it would give the tick's time.
    assert first["TimeGenerated"] == dt.datetime(2026, 11, 25, 7, 39, 24, 114000, tzinfo=dt.timezone.utc)
    assert (first["Level"], first["Process"], first["Message"]) == ("error", "slurmctld", "Configured MailProg is invalid")
    array_task = next(r for r in parsed if "Allocate JobId=8_1(11)" in r["Message"])
    assert (array_task["JobId"], array_task["ArrayJobId"], array_task["ArrayTaskId"]) == (11, 8, 1)
    unmatched = parsed[-1]
    assert (unmatched["Message"], unmatched["Level"], unmatched["JobId"]) == ("a line in no format", "", None)
    assert unmatched["TimeGenerated"] == now  # no timestamp of its own: when the agent read it
    assert {r["_ResourceId"] for r in parsed} == {sim.cluster.scheduler_vm_id.lower()}


def test_lines_of_a_file_no_dcr_of_the_machine_watches_are_not_collected(sim, azure):
    assert main(["run", "--once"]) == 0
    node = sim.vmss_members(sim.cluster.vmss_ids["htc"])[0]
    sim.append_lines(node, SLURMCTLD, ["[2026-11-25T07:39:24.114] error: on a node"])  # a scheduler-only file
    sim.append_lines(node, "/var/log/slurmd/slurmd.log", ["[2026-11-25T07:39:27.200] [2.batch] done with job"])
    sim.tick()
    ws = _workspace(sim)
    assert sim.log_rows(ws, "slurmctld_CL") == []
    (row,) = sim.log_rows(ws, "slurmd_CL")
    assert (row["Process"], row["JobId"], row["StepId"], row["Message"]) == ("slurmstepd", 2, "batch", "done with job")


def test_a_raw_only_dcr_is_migrated_by_an_update(sim, azure, capsys):
    assert main(["run", "--once"]) == 0
    rule = _rule(sim, "slurmd_raw_dcr")
    rule["properties"]["dataFlows"] = rule["properties"]["dataFlows"][:1]  # what an earlier version made
    sim.put(rule["id"], rule)
    capsys.readouterr()
    assert main(["plan"]) == 3
    out = capsys.readouterr().out
    assert "~ dcr slurmd_raw_dcr" in out and "parsedFlow.outputStream" in out
    assert "- dcr" not in out and "+ dcr" not in out
    assert main(["run", "--once"]) == 0
    assert len(_rule(sim, "slurmd_raw_dcr")["properties"]["dataFlows"]) == 2
    assert main(["plan"]) == 0


def test_a_transform_changed_by_hand_is_drift_and_put_back(sim, azure, capsys):
    assert main(["run", "--once"]) == 0
    rule = _rule(sim, "syslog_raw_dcr")
    wanted = rule["properties"]["dataFlows"][1]["transformKql"]
    rule["properties"]["dataFlows"][1]["transformKql"] = "source | project TimeGenerated, Message = RawData"
    sim.put(rule["id"], rule)
    capsys.readouterr()
    assert main(["plan"]) == 3
    assert "parsedFlow.transformKql" in capsys.readouterr().out
    assert main(["run", "--once"]) == 0
    assert _rule(sim, "syslog_raw_dcr")["properties"]["dataFlows"][1]["transformKql"] == wanted


def test_a_parsed_table_in_the_way_holds_back_its_dcr(sim, azure, capsys):
    ws = _workspace(sim)
    sim.add_table(ws, "slurmd_CL")  # someone else's, no mark
    assert main(["run", "--once"]) == 1
    out = capsys.readouterr().out
    assert "slurmd_CL" in out
    assert not any(d["name"] == "slurmd_raw_dcr" for d in sim.list("dcr"))


def test_from_arm_reads_both_flows_back():
    c = next(c for c in load_components() if c.pattern == "jetpack")
    from controller.desired import Target, rule_for

    want = rule_for(c, Target("00000000-0000-0000-0000-000000000000", RG, "/ws", "eastus", "slurm1"))
    body = want.body()
    body.update(id=want.id, name=want.name)
    have = DataCollectionRule.from_arm(body)
    assert have.spec() == want.spec()
    assert body["properties"]["dataSources"]["logFiles"][0]["settings"] == {
        "text": {"recordStartTimestampFormat": "YYYY-MM-DD HH:MM:SS"}}
