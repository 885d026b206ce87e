"""Whose resources are whose, end to end through the CLI against the simulator: the reference
document's settings (no CLUSTER_NAME), typos that must write nothing, and explicit adoption of a
world made by the reference scripts or by another cluster name."""

from __future__ import annotations

import dataclasses
import json

import jsonschema

from controller.cli import main
from controller.components import load_components
from controller.desired import Target, rule_for, table_for
from controller.plan_output import schema
from tests.support import RG, SUB

RULES = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Insights/dataCollectionRules"
WS = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.OperationalInsights/workspaces/logs"
OURS = {"managed-by": "slurm-log-controller", "slurm-log-controller-cluster": "slurm1"}


def plan_json(capsys, *args) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["plan", "--json", *args])
    document = json.loads(capsys.readouterr().out)
    jsonschema.validate(document, schema())
    return code, document


def test_the_reference_env_without_cluster_name_converges(sim, azure, monkeypatch, capsys):
    # The reference .env: VM_ID, VMSS_ID, VMSS_RG, VMSS_NAME and no CLUSTER_NAME.
    monkeypatch.delenv("CLUSTER_NAME")
    hpc = sim.cluster.vmss_ids["hpc"]
    monkeypatch.setenv("VMSS_ID", hpc)
    monkeypatch.setenv("VMSS_RG", RG)
    monkeypatch.setenv("VMSS_NAME", hpc.rsplit("/", 1)[-1])
    # what the reference's scripts use and the controller doesn't: accepted and ignored
    monkeypatch.setenv("SLURMCTLD_TABLE_NAME", "slurmctld-table-name_CL")
    monkeypatch.setenv("DCR_ID", f"{RULES}/dcr-name")
    monkeypatch.setenv("REGION", "centralus")
    assert main(["validate"]) == 0
    assert "ClusterName tag" in capsys.readouterr().out
    assert main(["render", "--out", "rendered"]) == 0
    assert main(["run", "--once"]) == 0
    # the name came from the ClusterName tag CycleCloud put on the scheduler and scale set
    assert sim.get(f"{RULES}/slurmd_raw_dcr")["tags"] == OURS
    assert "cluster=slurm1]" in sim.get(f"{WS}/tables/slurmd_raw_CL")["properties"]["schema"]["description"]
    # the tagged Flexible scale set is found as well, not only VMSS_ID
    flexible = sim.vmss_members(sim.cluster.vmss_ids["htc"])
    on_vm = [a for a in sim.list("association") if a["id"].lower().startswith(flexible[0].lower() + "/")]
    assert len(on_vm) == 5
    assert main(["plan"]) == 0


def test_render_needs_only_what_it_writes(sim, monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    for name, value in {"SUBSCRIPTION_ID": SUB, "RESOURCE_GROUP": RG, "WORKSPACE_NAME": "logs", "REGION": "eastus"}.items():
        monkeypatch.setenv(name, value)
    assert main(["render", "--out", str(tmp_path / "out")]) == 2  # not --offline: it reads the workspace's region
    assert main(["render", "--offline", "--out", str(tmp_path / "out")]) == 0
    assert sim.reads() + sim.writes() == 0 and sim.token_requests == 0
    body = json.loads((tmp_path / "out/data-collection-rules/slurm/slurmd_raw_dcr.json").read_text())
    assert body["location"] == "eastus"
    # without CLUSTER_NAME nothing is marked as ours: resources made from it are adopted explicitly
    assert body["tags"] == {}
    table = json.loads((tmp_path / "out/tables/slurmd_raw_CL.json").read_text())
    assert "managed-by" not in table["properties"]["schema"]["description"]


def test_a_cluster_name_typo_writes_nothing(sim, azure, monkeypatch, capsys):
    monkeypatch.setenv("CLUSTER_NAME", "slurm1x")
    monkeypatch.delenv("VM_ID")
    sim.reset_calls()
    assert main(["run", "--once"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "no machine tagged ClusterName=slurm1x" in err and "CLUSTER_NAME" in err
    assert sim.writes() == 0
    # beside a right VM_ID, the typo contradicts the VM's own tag
    monkeypatch.setenv("VM_ID", sim.cluster.scheduler_vm_id)
    assert main(["run", "--once"]) == 2
    assert "is tagged ClusterName=slurm1 but CLUSTER_NAME is slurm1x" in capsys.readouterr().err
    assert sim.writes() == 0


def test_no_scheduler_found_writes_nothing(sim, azure, monkeypatch, capsys):
    monkeypatch.delenv("VM_ID")
    monkeypatch.setenv("SCHEDULER_NODE_NAME", "head")
    sim.reset_calls()
    assert main(["plan"]) == 2 and main(["run", "--once"]) == 2
    assert "no scheduler VM of cluster slurm1 (tagged Name=head)" in capsys.readouterr().err
    assert sim.writes() == 0


def build_reference_world(sim, server, tags=None, owner=None):
    """What the reference document's scripts leave, made as they make it (through ARM): our
    table and DCR names with no ownership mark (or another cluster's), an association named by hand."""
    from azure.mgmt.loganalytics import LogAnalyticsManagementClient
    from azure.mgmt.monitor import MonitorManagementClient

    monitor = MonitorManagementClient(sim.credential(), SUB, **server.client_kwargs())
    log_analytics = LogAnalyticsManagementClient(sim.credential(), SUB, **server.client_kwargs())
    target = Target(SUB, RG, WS, "eastus", owner)
    for component in load_components():
        table = table_for(component, target).body()
        log_analytics.tables.begin_create_or_update(RG, "logs", component.table, table).result()
        # the reference scripts make the raw table and flow only
        rule = rule_for(component, target)
        raw_only = dataclasses.replace(rule.sources[0], parsed_stream="", record_start_format=None)
        body = dataclasses.replace(rule, sources=(raw_only,)).body()
        body["tags"] = tags or body["tags"]
        monitor.data_collection_rules.create(RG, component.rule, body)
    monitor.data_collection_rule_associations.create(
        sim.cluster.scheduler_vm_id.lstrip("/"), "slurmctld-scheduler", {"properties": {"dataCollectionRuleId": f"{RULES}/slurmctld_raw_dcr"}}
    )


def test_the_reference_scripts_world_is_blocked_until_adopted(sim, azure, monkeypatch, capsys):
    build_reference_world(sim, azure, tags={"team": "hpc"})
    sim.reset_calls()
    code, plan = plan_json(capsys)
    assert code == 3 and not plan["converged"]
    assert plan["summary"]["blocked"] == 20
    assert all("ADOPT=unowned" in s["reason"] and s["owner"] is None for s in plan["skipped"])
    # text: each blocked resource says why and the way out; never "No changes" alone
    assert main(["plan"]) == 3
    text = capsys.readouterr().out
    assert text.count("! ") == 20 and "No changes: Azure matches" not in text
    # run leaves them alone and says the configuration isn't in effect
    assert main(["run", "--once"]) == 1
    assert sim.get(f"{RULES}/slurmd_raw_dcr")["tags"] == {"team": "hpc"}
    # only the parsed tables, new names nobody holds, are made
    assert sim.calls.get("Tables_CreateOrUpdate", 0) == 10 and sim.calls.get("DataCollectionRules_Create", 0) == 0
    assert {t["name"] for t in sim.list("table")} >= {c.parsed_table for c in load_components()}

    monkeypatch.setenv("ADOPT", "unowned")
    code, plan = plan_json(capsys)
    assert code == 3 and plan["summary"]["adopt"] == 20 and plan["summary"]["blocked"] == 0
    assert main(["run", "--once"]) == 0
    assert sim.get(f"{RULES}/slurmd_raw_dcr")["tags"] == {"team": "hpc", **OURS}  # others' tags stay
    monkeypatch.delenv("ADOPT")
    code, plan = plan_json(capsys)
    assert code == 0 and plan["converged"], plan
    # the association made by hand still counts as in place: no second one on the scheduler
    on_scheduler = [a for a in sim.list("association") if "slurmctld_raw_dcr" in a["properties"]["dataCollectionRuleId"]
                    and a["id"].lower().startswith(sim.cluster.scheduler_vm_id.lower() + "/")]
    assert len(on_scheduler) == 1


def test_another_cluster_names_resources_are_adopted_by_that_name(sim, azure, monkeypatch, capsys):
    theirs = {"managed-by": "slurm-log-controller", "slurm-log-controller-cluster": "slurm-old"}
    build_reference_world(sim, azure, tags=theirs, owner="slurm-old")
    code, plan = plan_json(capsys)
    assert code == 3 and {s["owner"] for s in plan["skipped"]} == {"slurm-old"}
    assert "ADOPT=cluster:slurm-old" in plan["skipped"][0]["reason"]
    monkeypatch.setenv("ADOPT", "unowned")  # not enough: they are marked, by another name
    assert plan_json(capsys)[1]["summary"]["blocked"] == 20
    monkeypatch.setenv("ADOPT", "cluster:slurm-old")
    assert main(["run", "--once"]) == 0
    monkeypatch.delenv("ADOPT")
    assert plan_json(capsys)[0] == 0
    assert sim.get(f"{RULES}/slurmd_raw_dcr")["tags"] == OURS


def test_detailed_exitcode_follows_terraform(sim, azure, monkeypatch, capsys):
    assert main(["plan", "--detailed-exitcode"]) == 2  # changes
    assert main(["run", "--once"]) == 0
    assert main(["plan", "--detailed-exitcode"]) == 0
    monkeypatch.setenv("POLICY", "yolo")
    assert main(["plan", "--detailed-exitcode"]) == 1  # any error
    assert main(["plan"]) == 2  # without the flag, user errors keep their own code
