"""The CLI end to end against the simulator, through the real Azure SDK clients."""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from controller.cli import main
from controller.components import default_config_path
from tests.support import RG, SUB

RULES = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Insights/dataCollectionRules"
WS = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.OperationalInsights/workspaces/logs"
SCHEDULER_DCRS, NODE_DCRS = 8, 5


def plan_json(capsys) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["plan", "--json"])
    return code, json.loads(capsys.readouterr().out)


def expected_associations(sim) -> int:
    flexible_vms = len([v for v in sim.list("virtualMachines") if "htc" in v["id"].lower()])
    return SCHEDULER_DCRS + NODE_DCRS * (1 + flexible_vms)


def test_converge_then_repair_drift(sim, azure, capsys):
    # An empty subscription converges in one pass.
    assert main(["run", "--once"]) == 0
    assert sim.calls["Tables_CreateOrUpdate"] == 20  # a raw and a parsed table per component
    assert sim.calls["DataCollectionRules_Create"] == 10
    assert sim.calls["DataCollectionRuleAssociations_Create"] == expected_associations(sim)
    assert sim.calls.get("DataCollectionRuleAssociations_Get", 0) == 0

    # In sync: plan exits 0 and writes nothing.
    sim.reset_calls()
    code, plan = plan_json(capsys)
    assert code == 0 and plan["summary"] == {"create": 0, "update": 0, "delete": 0, "adopt": 0, "blocked": 0}
    assert plan["in_sync"] == {"table": 20, "dcr": 10, "association": expected_associations(sim), "function": 3}
    assert sim.writes() == 0

    # Drift: an association deleted, a file pattern changed, a table deleted, an unowned DCR added.
    scheduler = sim.cluster.scheduler_vm_id
    sim.remove(f"{scheduler}/providers/Microsoft.Insights/dataCollectionRuleAssociations/slurm-log-controller-slurmctld_raw_dcr")
    rule = sim.get(f"{RULES}/slurmd_raw_dcr")
    rule["properties"]["dataSources"]["logFiles"][0]["filePatterns"] = ["/var/log/elsewhere.log"]
    sim.put(f"{RULES}/slurmd_raw_dcr", rule)
    sim.remove(f"{WS}/tables/dmesg_raw_CL")
    foreign = sim.get(f"{RULES}/syslog_raw_dcr")
    foreign["tags"] = {"owner": "someone-else"}
    sim.put(f"{RULES}/someone_elses_dcr", foreign)

    code, plan = plan_json(capsys)
    assert code == 3
    changes = {(c["action"], c["kind"], c["name"]) for c in plan["changes"]}
    assert changes == {
        ("create", "association", "slurm-log-controller-slurmctld_raw_dcr"),
        ("update", "dcr", "slurmd_raw_dcr"),
        ("create", "table", "dmesg_raw_CL"),
    }
    (update,) = [c for c in plan["changes"] if c["action"] == "update"]
    assert update["fields"] == [
        {"path": "filePatterns", "old": ["/var/log/elsewhere.log"], "new": ["/var/log/slurmd/slurmd.log", "/var/log/slurm/slurmd.log"]}
    ]

    # The human-readable plan shows the same, terraform style.
    assert main(["plan"]) == 3
    text = capsys.readouterr().out
    assert "Plan: 2 to create, 1 to update, 0 to delete." in text
    assert "~ dcr slurmd_raw_dcr" in text and "filePatterns" in text

    assert main(["run", "--once"]) == 0
    code, plan = plan_json(capsys)
    assert code == 0, plan
    assert sim.get(f"{RULES}/someone_elses_dcr")["tags"] == {"owner": "someone-else"}


def test_sync_removes_what_we_own_and_nothing_else(sim, azure, monkeypatch, capsys):
    assert main(["run", "--once"]) == 0
    foreign = sim.get(f"{RULES}/syslog_raw_dcr")
    foreign["tags"] = {"owner": "someone-else"}
    sim.put(f"{RULES}/someone_elses_dcr", foreign)
    config = config_without("dmesg")
    monkeypatch.setenv("POLICY", "sync")
    capsys.readouterr()
    code = main(["plan", "--json", "--config", str(config)])
    plan = json.loads(capsys.readouterr().out)
    assert code == 3
    # the functions no longer name dmesg_CL
    assert {(c["action"], c["kind"]) for c in plan["changes"]} == {("delete", "dcr"), ("delete", "association"), ("update", "function")}
    assert main(["run", "--once", "--config", str(config)]) == 0
    assert sim.get(f"{RULES}/dmesg_raw_dcr") is None
    assert sim.get(f"{WS}/tables/dmesg_raw_CL") is not None  # tables only with ALLOW_TABLE_DELETE
    assert sim.get(f"{RULES}/someone_elses_dcr") is not None


def config_without(pattern: str) -> Path:
    """The shipped config less one component, written to the (temporary) working directory."""
    data = yaml.safe_load(default_config_path().read_text())
    data["components"] = [c for c in data["components"] if pattern not in c.get("files", [""])[0]]
    path = Path.cwd() / "smaller.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_demo_runs_a_full_reconcile_without_azure(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--nodes", "2"]) == 0
    out = capsys.readouterr().out
    assert "Plan: 56 to create" in out  # 20 tables + 10 DCRs + 8 + 5 x 3 associations + 3 functions
    assert "2. Second pass" in out and out.count("No changes") == 2
    assert "filePatterns" in out
    found, fixed = out.split("=== 6.")[1], out.split("=== 8.")[1]  # a broken node found, then fixed
    assert "demo-gpu_0" in found and "no_agent" in found and "7/9 machines can send; 2 can't" in found
    assert "+ agent demo-gpu (scale set model)" in out and "~ upgrade demo-gpu (2 instances)" in out
    assert "no_agent" not in fixed and "9/9 machines can send; 0 can't" in fixed
    assert "IDENTITY_ENDPOINT" not in os.environ  # the demo's simulated Azure doesn't outlive it


def test_scheduler_found_by_tag_without_vm_id(sim, azure, monkeypatch, capsys):
    monkeypatch.delenv("VM_ID")
    assert main(["run", "--once"]) == 0
    scheduler = sim.cluster.scheduler_vm_id
    on_scheduler = [a for a in sim.list("association") if a["id"].lower().startswith(scheduler.lower() + "/")]
    assert len(on_scheduler) == SCHEDULER_DCRS


def test_validate_summarises_what_would_be_managed(sim, azure, monkeypatch, capsys):
    monkeypatch.delenv("VM_ID")
    assert main(["validate"]) == 0
    out = capsys.readouterr().out
    assert "cluster:      slurm1" in out and "(the VM tagged Name=scheduler)" in out
    assert "10 components (6 more switched off: waagent, cloudinit, azure_slurm_install, azurehpc_slurm, healthagent_install, slurm_job_archive) (DCR_LAYOUT=per-component):" in out
    assert "slurmdb_raw_CL         slurmdb_raw_dcr        scheduler" in out
    assert "/shared/slurm-logs/job_*" in out and "nodearrays:   scheduler-ha: scheduler, login: login, any other: nodes" in out
    assert sim.reads() + sim.writes() == 0  # validate reads no Azure


def test_sync_deletes_owned_tables_only_when_allowed(sim, azure, monkeypatch):
    assert main(["run", "--once"]) == 0
    config = config_without("dmesg")
    monkeypatch.setenv("POLICY", "sync")
    monkeypatch.setenv("ALLOW_TABLE_DELETE", "true")
    assert main(["run", "--once", "--config", str(config)]) == 0
    assert sim.get(f"{WS}/tables/dmesg_raw_CL") is None  # a long-running delete, waited for
    assert sim.get(f"{WS}/tables/syslog_raw_CL") is not None
    assert main(["plan", "--config", str(config)]) == 0


def test_every_switched_off_component_can_be_switched_on(sim, azure):
    text = default_config_path().read_text().replace("    enabled: false\n", "")
    path = Path.cwd() / "all.yaml"
    path.write_text(text)
    assert main(["run", "--once", "--config", str(path)]) == 0
    assert len(sim.list("table")) == 2 * len(sim.list("dcr")) == 32
    assert main(["plan", "--config", str(path)]) == 0
