"""Remediation through the CLI against the simulator: a cluster with one machine per cause and
healthy ones; `plan` shows what INSTALL_AGENT / UPGRADE_INSTANCES may do (and with them off, one
note and nothing else); `run --once` does it and leaves the rest; afterwards the agent sends and
`doctor` names only what remediation may not fix; machines outside the cluster are never touched."""

from __future__ import annotations

import json

import jsonschema
import pytest

from controller.cli import main
from controller.plan_output import schema
from controller.remediation import EXTENSION_NAME
from controller.simulator import ArmSimulator
from tests.support import RG, SUB

REMEDIATION_WRITES = ("VirtualMachineExtensions_CreateOrUpdate", "VirtualMachineScaleSetExtensions_CreateOrUpdate",
                      "VirtualMachineScaleSets_UpdateInstances")


def nodearray(sim, cluster, name: str, mode: str, count: int, vm_size: str = "Standard_HB120rs_v3") -> str:
    tags = dict(sim.get(cluster.vmss_ids["hpc"])["tags"])
    tags["CycleCloudNodeArray"] = tags["CycleCloudNodeArray"].rsplit("/", 1)[0] + "/" + name
    return sim.add_vmss(RG, f"slurm1-{name}", mode, count, tags=tags, vm_size=vm_size)


@pytest.fixture
def sim():
    """Healthy: hpc (Uniform, 3), htc (Flexible, 2). One machine or scale set per cause."""
    sim = ArmSimulator(subscription_id=SUB)
    sim.add_workspace(resource_group=RG, name="logs", location="eastus")
    cluster = sim.cluster = sim.add_cyclecloud_cluster(
        RG, "slurm1", nodearrays={"hpc": ("Uniform", 3), "htc": ("Flexible", 2)}, agent=False)
    for healthy in cluster.vmss_ids.values():
        sim.install_agent(healthy, upgrade_instances=True)
    # the scheduler VM: no agent
    sim.bare = nodearray(sim, cluster, "bare", "Uniform", 2)  # a model without the agent
    sim.lagging = nodearray(sim, cluster, "lagging", "Uniform", 2)
    sim.install_agent(sim.lagging)  # in the model; the 2 instances haven't applied it
    sim.flexbare = nodearray(sim, cluster, "flexbare", "Flexible", 1)  # model and member without it
    sim.lone = nodearray(sim, cluster, "lone", "Uniform", 1)  # one user-assigned identity, no agent
    (sim.lone_identity,) = sim.set_identity(sim.lone, system_assigned=False, user_assigned=("slurm1-nodes",))
    sim.unnamed = nodearray(sim, cluster, "unnamed", "Uniform", 1)  # someone else's agent, identity not named
    sim.set_identity(sim.unnamed, system_assigned=False, user_assigned=("slurm1-other",))
    sim.install_agent(sim.unnamed, upgrade_instances=True)
    sim.multi = nodearray(sim, cluster, "multi", "Uniform", 1)  # two user-assigned identities: not guessed
    sim.set_identity(sim.multi, system_assigned=False, user_assigned=("a", "b"))
    sim.gb200 = nodearray(sim, cluster, "gb200", "Uniform", 1, vm_size="Standard_ND128isr_NDR_GB200_v6")
    # outside the cluster: untagged, and another cluster's
    sim.stranger = sim.add_vm(RG, "someone-elses-vm")
    sim.other_cluster = sim.add_vmss(RG, "slurm2-hpc", "Uniform", 1, tags={"ClusterName": "slurm2",
                                     "CycleCloudNodeArray": "/sites/x/clusters/slurm2/nodearrays/hpc"})
    return sim


def plan(capsys, *args) -> tuple[int, str]:
    code = main(["plan", *args])
    return code, capsys.readouterr().out


def remediation_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith(("+ agent", "~ agent", "~ upgrade"))]


def test_off_by_default_plan_names_it_in_one_note_and_nothing_is_written(azure, sim, capsys):
    code, out = plan(capsys)
    assert code == 3
    assert remediation_lines(out) == []
    (note,) = [line for line in out.splitlines() if line.strip().startswith("! ")]  # one line, no more
    assert "remediation is off" in note
    assert "INSTALL_AGENT=true would install the agent on" in note and "UPGRADE_INSTANCES=true would upgrade" in note
    assert main(["run", "--once"]) == 0
    assert not any(sim.calls[op] for op in REMEDIATION_WRITES)


def test_plan_shows_exactly_the_remediation_it_may_do(azure, sim, capsys, monkeypatch):
    monkeypatch.setenv("INSTALL_AGENT", "true")
    monkeypatch.setenv("UPGRADE_INSTANCES", "true")
    sim.reset_calls()
    code, out = plan(capsys)
    assert code == 3 and sim.writes() == 0
    flex_member = sim.vmss_members(sim.flexbare)[0].rsplit("/", 1)[-1]
    assert sorted(remediation_lines(out)) == sorted([
        "+ agent slurm1-scheduler",
        "+ agent slurm1-bare (scale set model)",
        "+ agent slurm1-flexbare (scale set model)",
        f"+ agent {flex_member}",
        "+ agent slurm1-lone (scale set model)",
        "~ upgrade slurm1-bare (2 instances)",
        "~ upgrade slurm1-lagging (2 instances)",
        "~ upgrade slurm1-lone (1 instance)",
    ])
    assert f"identity: mi_res_id {sim.lone_identity['id']}" in out
    notes = [line.strip() for line in out.splitlines() if line.strip().startswith("! agent")]
    assert len(notes) == 3
    assert any("slurm1-unnamed" in n and "not ours" in n and "ADOPT=unowned" in n for n in notes)
    assert any("slurm1-multi" in n and "2 user-assigned identities" in n for n in notes)
    assert any("Arm64 slurm1-gb200" in n for n in notes)
    assert "remediation is off" not in out
    assert "someone-elses-vm" not in out and "slurm2" not in out
    assert out.splitlines()[0].startswith("Plan: ")

    code, out = plan(capsys, "--json")
    document = json.loads(out)
    jsonschema.Draft202012Validator(schema()).validate(document)
    agents = [c for c in document["changes"] if c["kind"] == "agent"]
    upgrades = {c["name"]: c["content"]["instanceIds"] for c in document["changes"] if c["kind"] == "upgrade"}
    assert len(agents) == 5 and upgrades == {"slurm1-bare": ["0", "1"], "slurm1-lagging": ["0", "1"], "slurm1-lone": ["0"]}
    assert document["summary"]["create"] >= 5 and document["summary"]["update"] >= 3


def _verdicts(capsys) -> dict[str, str]:
    code = main(["doctor", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 4
    return {m["machine"]: m["verdict"] for m in report["machines"]}


def test_run_once_fixes_what_it_may_and_doctor_then_names_only_the_rest(azure, sim, capsys, monkeypatch):
    monkeypatch.setenv("INSTALL_AGENT", "true")
    monkeypatch.setenv("UPGRADE_INSTANCES", "true")
    stranger_before, other_before = sim.get(sim.stranger), sim.get(sim.other_cluster)
    assert main(["run", "--once"]) == 0
    out = capsys.readouterr().out
    assert "failed 0" in out
    assert sim.calls["VirtualMachineExtensions_CreateOrUpdate"] == 2  # the scheduler and the Flexible member
    assert sim.calls["VirtualMachineScaleSetExtensions_CreateOrUpdate"] == 3
    assert sim.calls["VirtualMachineScaleSets_UpdateInstances"] == 3  # one per scale set
    scheduler_agent = sim.get(f"{sim.cluster.scheduler_vm_id}/extensions/{EXTENSION_NAME}")
    assert scheduler_agent["tags"] == {"managed-by": "slurm-log-controller", "slurm-log-controller-cluster": "slurm1"}
    lone_model = sim.get(sim.lone)["properties"]["virtualMachineProfile"]["extensionProfile"]["extensions"]
    assert lone_model[0]["properties"]["settings"]["authentication"]["managedIdentity"] == {
        "identifier-name": "mi_res_id", "identifier-value": sim.lone_identity["id"]}
    # never touched: outside the cluster, and an agent extension that isn't ours
    assert sim.get(sim.stranger) == stranger_before and sim.get(sim.other_cluster) == other_before
    unnamed_model = sim.get(sim.unnamed)["properties"]["virtualMachineProfile"]["extensionProfile"]["extensions"]
    assert [e["name"] for e in unnamed_model] == ["AzureMonitorLinuxAgent"] and "settings" not in unnamed_model[0]["properties"]

    sim.tick(5)
    verdicts = _verdicts(capsys)
    broken = {name: verdict for name, verdict in verdicts.items() if verdict != "ok"}
    assert broken == {"slurm1-unnamed_0": "identity_not_named", "slurm1-multi_0": "no_agent", "slurm1-gb200_0": "arm64"}
    assert {"slurm1-scheduler", "slurm1-bare_0", "slurm1-bare_1", "slurm1-lagging_1", "slurm1-lone_0"} <= set(verdicts)

    capsys.readouterr()
    code, out = plan(capsys)  # what remediation may do is done: only the notes stay
    assert remediation_lines(out) == [] and code == 0
    assert len([line for line in out.splitlines() if line.strip().startswith("! agent")]) == 3


def test_adopt_unowned_rewrites_an_agent_that_does_not_name_the_identity(azure, sim, capsys, monkeypatch):
    monkeypatch.setenv("INSTALL_AGENT", "true")
    monkeypatch.setenv("ADOPT", "unowned")
    code, out = plan(capsys)
    assert "~ agent slurm1-unnamed (scale set model)" in remediation_lines(out)
    assert 'settings.authentication.managedIdentity: "system-assigned" -> "mi_res_id /subscriptions/' in out


def test_validate_says_which_remediation_is_on_and_a_bad_value_is_one_line(azure, sim, capsys, monkeypatch):
    assert main(["validate"]) == 0
    assert "remediation:  off (plan notes what INSTALL_AGENT / UPGRADE_INSTANCES would do)" in capsys.readouterr().out
    monkeypatch.setenv("UPGRADE_INSTANCES", "yes")
    assert main(["validate"]) == 0
    assert "remediation:  UPGRADE_INSTANCES\n" in capsys.readouterr().out
    monkeypatch.setenv("INSTALL_AGENT", "maybe")
    sim.reset_calls()
    assert main(["plan"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: INSTALL_AGENT: 'maybe' is not true or false"] and not sim.calls
