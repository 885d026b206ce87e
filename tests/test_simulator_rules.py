"""The controller against a simulator that refuses what Azure refuses, through the CLI: what Azure
can do to it is reported, and its own writes never trip a rule."""

from __future__ import annotations

from collections import Counter

from controller.cli import main
from tests.support import RG

DCRS = 10
TABLES = 2 * DCRS  # a raw and a parsed table per component


def test_a_failed_table_creation_is_reported_and_its_dcr_not_sent(sim, azure, capsys):
    sim.fail_table_creation("slurmd_raw_CL", code="SchemaUpdateFatalError")
    assert main(["run", "--once"]) == 1
    out = capsys.readouterr().out
    failed = [line for line in out.splitlines() if "failed:" in line]
    assert len(failed) == 1 and "table slurmd_raw_CL: ended Failed: SchemaUpdateFatalError" in failed[0], out
    assert "skipped: + dcr slurmd_raw_dcr" in out
    assert sim.calls["DataCollectionRules_Create"] == DCRS - 1
    assert not any(d["name"] == "slurmd_raw_dcr" for d in sim.list("dcr"))
    # Azure failed it once: the next pass creates it, and its DCR
    assert main(["run", "--once"]) == 0
    assert main(["plan"]) == 0
    assert len(sim.list("table")) == TABLES and len(sim.list("dcr")) == DCRS


def test_dcrs_go_to_the_workspaces_region(sim, azure, monkeypatch):
    """The cluster is in eastus, the workspace elsewhere: Azure takes a DCR only in the workspace's region."""
    sim.add_workspace(resource_group=RG, name="west-logs", location="westus2")
    monkeypatch.setenv("WORKSPACE_NAME", "west-logs")
    assert main(["run", "--once"]) == 0
    assert {d["location"] for d in sim.list("dcr")} == {"westus2"}
    assert main(["plan"]) == 0


def _by_class(sim, *fields) -> dict[str, set]:
    """{"raw": ..., "parsed": ...}: the values of `fields` of each class's tables."""
    found = {"raw": set(), "parsed": set()}
    for t in sim.list("table"):
        found["raw" if t["name"].endswith("_raw_CL") else "parsed"].add(tuple(t["properties"][f] for f in fields))
    return found


def test_the_basic_plan_keeps_azures_30_days(sim, azure, monkeypatch):
    """Basic for the raw tables, the lossless copy; the parsed ones, which people query, stay Analytics."""
    monkeypatch.setenv("TABLE_PLAN", "Basic")
    monkeypatch.setenv("PARSED_TABLE_RETENTION_DAYS", "90")
    assert main(["run", "--once"]) == 0
    assert _by_class(sim, "plan", "retentionInDays") == {"raw": {("Basic", 30)}, "parsed": {("Analytics", 90)}}
    assert main(["plan"]) == 0


def test_long_term_retention_azure_accepts(sim, azure, monkeypatch):
    monkeypatch.setenv("TABLE_TOTAL_RETENTION_DAYS", "1095")
    monkeypatch.setenv("PARSED_TABLE_TOTAL_RETENTION_DAYS", "730")
    assert main(["run", "--once"]) == 0
    assert _by_class(sim, "totalRetentionInDays") == {"raw": {(1095,)}, "parsed": {(730,)}}


def test_retention_azure_refuses_is_refused_before_any_request(sim, azure, monkeypatch, capsys):
    for name, value in (("TABLE_TOTAL_RETENTION_DAYS", "1000"), ("TABLE_RETENTION_DAYS", "731"),
                        ("PARSED_TABLE_RETENTION_DAYS", "3"), ("PARSED_TABLE_TOTAL_RETENTION_DAYS", "1000")):
        with monkeypatch.context() as env:
            env.setenv(name, value)
            assert main(["run", "--once"]) == 2
        err = capsys.readouterr().err
        assert name in err and "Traceback" not in err
    assert sim.writes() == 0 and sim.reads() == 0


def test_deletes_are_paced_by_their_own_bucket(sim, azure, monkeypatch, capsys):
    """ARM's delete bucket allows one delete every 0.25 s here; the controller's own delete bucket
    (one every 0.5 s) keeps it from being throttled, while writes go on unpaced."""
    assert main(["run", "--once"]) == 0
    ours = next(d for d in sim.list("dcr") if d["name"] == "dmesg_raw_dcr")
    for name in ("retired1_raw_dcr", "retired2_raw_dcr", "retired3_raw_dcr"):
        sim.put(ours["id"].replace("dmesg_raw_dcr", name), ours)
    sim.emulate_arm_throttling(write_burst=10**6, read_burst=10**6, delete_burst=1, delete_rate=4)
    for name, value in {"POLICY": "sync", "ARM_DELETE_BURST": "1", "ARM_DELETES_PER_SECOND": "2"}.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert main(["run", "--once"]) == 0
    out = capsys.readouterr().out
    assert out.count("- dcr retired") == 3, out
    assert sim.calls["DataCollectionRules_Delete"] == 3 and sim.throttled == Counter()
    assert [d["name"] for d in sim.list("dcr") if d["name"].startswith("retired")] == []


def test_a_sync_pass_deleting_more_than_the_write_bucket_holds_is_never_throttled(sim, azure, monkeypatch, capsys):
    """ARM's write and delete buckets hold exactly this pass's creates and deletes, refilling at one
    a second: had deletes drawn on the write bucket (or writes on the delete bucket), on either side,
    ARM would answer 429."""
    assert main(["run", "--once"]) == 0
    flexible = sim.cluster.vmss_ids["htc"]
    new = sim.scale(flexible, 4)
    ours = next(d for d in sim.list("dcr") if d["name"] == "dmesg_raw_dcr")
    for name in ("retired1_raw_dcr", "retired2_raw_dcr", "retired3_raw_dcr"):
        rule = sim.put(ours["id"].replace("dmesg_raw_dcr", name), ours)
        for vm in sim.vmss_members(flexible):
            sim.put(f"{vm}/providers/Microsoft.Insights/dataCollectionRuleAssociations/slurm-log-controller-{name}",
                    {"properties": {"dataCollectionRuleId": rule["id"]}})
    creates, deletes = 5 * len(new), 3 + 3 * len(sim.vmss_members(flexible))
    assert deletes > creates > 0
    sim.emulate_arm_throttling(write_burst=creates, write_rate=1, delete_burst=deletes, delete_rate=1, read_burst=10**6)
    for name, value in {"POLICY": "sync", "ARM_WRITE_BURST": str(creates), "ARM_WRITES_PER_SECOND": "1",
                        "ARM_DELETE_BURST": str(deletes), "ARM_DELETES_PER_SECOND": "1"}.items():
        monkeypatch.setenv(name, value)
    sim.reset_calls()
    capsys.readouterr()
    assert main(["run", "--once"]) == 0
    assert f"Applied {creates + deletes}, skipped 0, failed 0" in capsys.readouterr().out
    assert sim.throttled == Counter()
    assert sim.calls["DataCollectionRuleAssociations_Create"] == creates
    assert sim.calls["DataCollectionRuleAssociations_Delete"] + sim.calls["DataCollectionRules_Delete"] == deletes
