"""`doctor` through the CLI against the simulator: a cluster with one machine per cause the
preflight knows and healthy ones; every broken machine named with its cause and fix, no healthy
one; the reads per pass flat in the number of nodes; the daemon's metric moves."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from controller.cli import main
from controller.doctor.preflight import is_arm64
from controller.simulator import ArmSimulator
from tests.support import RG, SUB


def add_nodearray(sim, name: str, mode: str, count: int, vm_size: str = "Standard_HB120rs_v3") -> str:
    """A scale set tagged as CycleCloud tags a nodearray of cluster slurm1, with the agent applied."""
    tags = dict(sim.get(sim.cluster.vmss_ids["hpc"])["tags"])
    tags["CycleCloudNodeArray"] = tags["CycleCloudNodeArray"].rsplit("/", 1)[0] + "/" + name
    vmss = sim.add_vmss(RG, f"slurm1-{name}", mode, count, tags=tags, vm_size=vm_size)
    sim.install_agent(vmss, upgrade_instances=True)
    return vmss


@pytest.fixture
def broken(sim):
    """Healthy: the scheduler, hpc (Uniform, 3) and htc (Flexible, 2). Broken, one per cause."""
    ids = {"noagent": sim.add_vmss(RG, "slurm1-noagent", "Flexible", 0, tags=dict(sim.get(sim.cluster.vmss_ids["htc"])["tags"]))}
    sim.scale(ids["noagent"], 1)  # the htc nodearray's tags: its role, no agent in its model
    ids["unapplied"] = add_nodearray(sim, "lagging", "Uniform", 2)
    sim.install_agent(ids["unapplied"], identifier=None)  # a model change the 2 instances haven't applied
    ids["unnamed"] = add_nodearray(sim, "usermi", "Uniform", 1)
    sim.set_identity(ids["unnamed"], system_assigned=False, user_assigned=("slurm1-nodes",))
    ids["named"] = add_nodearray(sim, "usermiok", "Flexible", 0)
    (user,) = sim.set_identity(ids["named"], system_assigned=False, user_assigned=("slurm1-ok",))
    sim.install_agent(ids["named"], identifier=("mi_res_id", user["id"]))
    sim.scale(ids["named"], 1)  # made from the model: agent, user-assigned identity, named
    ids["arm64"] = add_nodearray(sim, "gb200", "Uniform", 1, vm_size="Standard_ND128isr_NDR_GB200_v6")
    return ids


def doctor(capsys, *args) -> tuple[int, str]:
    code = main(["doctor", *args])
    return code, capsys.readouterr().out


def test_doctor_names_each_broken_machine_with_its_cause_and_fix(azure, sim, broken, capsys):
    assert main(["run", "--once"]) == 0
    sim.tick(5)  # the agents that can send have sent
    capsys.readouterr()
    code, out = doctor(capsys, "--json")
    assert code == 4
    report = json.loads(out)
    assert report["format_version"] == 1
    verdicts = {m["machine"]: m for m in report["machines"]}
    broken_ones = {name: m["verdict"] for name, m in verdicts.items() if not m["ok"]}
    noagent_vm = sim.vmss_members(broken["noagent"])[0].rsplit("/", 1)[-1]
    assert broken_ones == {
        noagent_vm: "no_agent",
        "slurm1-lagging_0": "model_not_applied", "slurm1-lagging_1": "model_not_applied",
        "slurm1-usermi_0": "identity_not_named",
        "slurm1-gb200_0": "arm64",
    }
    healthy = {"slurm1-scheduler", "slurm1-hpc_0", "slurm1-hpc_1", "slurm1-hpc_2",
               *(i.rsplit("/", 1)[-1] for i in sim.vmss_members(sim.cluster.vmss_ids["htc"])),
               *(i.rsplit("/", 1)[-1] for i in sim.vmss_members(broken["named"]))}
    assert healthy == set(verdicts) - set(broken_ones)
    assert "az vm extension set -g slurm-rg --vm-name " + noagent_vm in verdicts[noagent_vm]["fix"]
    assert "az vmss update-instances -g slurm-rg -n slurm1-lagging --instance-ids 1" in verdicts["slurm1-lagging_1"]["fix"]
    assert "userAssignedIdentities/slurm1-nodes" in verdicts["slurm1-usermi_0"]["fix"]
    assert "Arm64" in verdicts["slurm1-gb200_0"]["fix"]
    assert report["summary"]["unable_to_send"] == 5 and report["summary"]["by_cause"]["model_not_applied"] == 2

    code, table = doctor(capsys)
    assert code == 4
    lines = {line.split()[0]: line for line in table.splitlines()[1:] if line.strip() and not line[0].isdigit()}
    assert lines["slurm1-usermi_0"].split()[1:4] == ["nodes", "ok", "user-assigned,"]
    assert "model_not_applied" in lines["slurm1-lagging_0"] and lines["slurm1-hpc_0"].split()[-1] == "ok"
    assert table.splitlines()[-1] == f"{len(healthy)}/{len(verdicts)} machines can send; 5 can't"


def test_a_healthy_cluster_passes_and_a_missing_association_is_a_cause(azure, sim, capsys):
    code, out = doctor(capsys, "--json")  # nothing applied yet: every machine lacks its associations
    assert code == 4
    assert {m["verdict"] for m in json.loads(out)["machines"]} == {"not_associated"}
    assert main(["run", "--once"]) == 0
    sim.tick(5)
    capsys.readouterr()
    code, out = doctor(capsys)
    assert code == 0, out
    assert out.splitlines()[-1] == "6/6 machines can send; 0 can't"


def test_a_run_that_writes_only_associations_reads_the_machines_once(azure, sim, capsys):
    """The report after the apply judges the machines from what the plan read: associations don't
    change a machine, so its agent and identity aren't listed a second time."""
    sim.reset_calls()
    assert main(["run", "--once"]) == 0
    assert "not_associated" not in capsys.readouterr().out
    assert sim.calls["DataCollectionRuleAssociations_Create"] > 0
    assert sim.calls["VirtualMachineExtensions_List"] == 1  # the scheduler's, once
    assert sim.calls["VirtualMachineScaleSetVMs_List"] == 1  # hpc's instances, once
    assert sim.calls["VirtualMachines_List"] == 2  # the inventory, and htc's members with their instance view


def test_the_agent_failed_and_no_identity(azure, sim, capsys):
    sim.install_agent(sim.cluster.scheduler_vm_id, provisioning_state="Failed")
    sim.set_identity(sim.cluster.vmss_ids["htc"], system_assigned=False)
    assert main(["run", "--once"]) == 0
    sim.tick(5)
    capsys.readouterr()
    code, out = doctor(capsys, "--json")
    verdicts = [m for m in json.loads(out)["machines"] if not m["ok"]]
    assert code == 4
    assert {(m["role"], m["verdict"]) for m in verdicts} == {("scheduler", "agent_not_provisioned"), ("nodes", "no_identity")}
    assert len(verdicts) == 3  # the scheduler and both htc VMs


@pytest.mark.parametrize("size, arm", [
    ("Standard_D4ps_v5", True), ("Standard_E8pds_v5", True), ("Standard_D16pls_v6", True),
    ("Standard_ND128isr_NDR_GB200_v6", True), ("Standard_HB120rs_v3", False), ("Standard_D4s_v5", False),
    ("Standard_NC24ads_A100_v4", False), ("Standard_HX176-144rs", False), ("Standard_NP10s", False),
])
def test_arm64_sizes(size, arm):
    assert is_arm64(size) is arm


def _reads_per_doctor(nodes: int, monkeypatch, tmp_path, capsys) -> int:
    sim = ArmSimulator(subscription_id=SUB)
    sim.add_workspace(resource_group=RG, name="logs", location="eastus")
    cluster = sim.add_cyclecloud_cluster(RG, "slurm1", nodearrays={"hpc": ("Uniform", nodes), "htc": ("Flexible", 3)})
    monkeypatch.chdir(tmp_path)
    with sim.serve() as server:
        for name, value in {**server.env(), "SUBSCRIPTION_ID": SUB, "RESOURCE_GROUP": RG, "WORKSPACE_NAME": "logs",
                            "CLUSTER_NAME": "slurm1", "VM_ID": cluster.scheduler_vm_id}.items():
            monkeypatch.setenv(name, value)
        sim.reset_calls()
        assert main(["doctor"]) == 4  # nothing associated yet
        capsys.readouterr()
        assert {op for op in sim.calls if op.endswith("_Get")} == {"Workspaces_Get"}  # lists only
        return sum(sim.calls.values())


def test_reads_per_doctor_pass_are_flat_in_nodes(monkeypatch, tmp_path, capsys):
    # Uniform instances fill pages of 100 (the simulator's page size): 10 and 90 nodes, one page.
    assert _reads_per_doctor(10, monkeypatch, tmp_path, capsys) == _reads_per_doctor(90, monkeypatch, tmp_path, capsys)


def test_the_metric_counts_machines_unable_to_send_by_role_and_cause(azure, sim, broken, tmp_path, capsys):
    from prometheus_client.parser import text_string_to_metric_families

    def unable() -> dict[tuple[str, str], float]:
        path = tmp_path / "metrics.prom"
        assert main(["run", "--once", "--metrics-file", str(path)]) == 0
        capsys.readouterr()
        (family,) = [f for f in text_string_to_metric_families(path.read_text())
                     if f.name == "slurm_log_controller_machines_unable_to_send"]
        return {(s.labels["role"], s.labels["cause"]): s.value for s in family.samples}

    first = unable()
    assert len(first) == 3 * 8  # every role and cause, always
    assert {k: v for k, v in first.items() if v} == {
        ("nodes", "no_agent"): 1, ("nodes", "model_not_applied"): 2, ("nodes", "identity_not_named"): 1, ("nodes", "arm64"): 1,
    }
    sim.install_agent(broken["unapplied"], upgrade_instances=True)  # az vmss update-instances
    after = unable()
    assert after[("nodes", "model_not_applied")] == 0 and after[("nodes", "arm64")] == 1


def test_the_simulator_takes_instance_view_only_with_the_scale_set_filter(azure, sim):
    from azure.core.exceptions import HttpResponseError
    from azure.mgmt.compute import ComputeManagementClient

    client = ComputeManagementClient(sim.credential(), SUB, **azure.client_kwargs())
    with pytest.raises(HttpResponseError, match="InvalidParameter"):
        list(client.virtual_machines.list(RG, expand="instanceView"))
    htc = sim.cluster.vmss_ids["htc"]
    members = list(client.virtual_machines.list(RG, filter=f"'virtualMachineScaleSet/id' eq '{htc}'", expand="instanceView"))
    assert sorted(vm.id for vm in members) == sorted(sim.vmss_members(htc))
    assert {e.type for vm in members for e in vm.properties.instance_view.extensions} == {
        "Microsoft.Azure.Monitor.AzureMonitorLinuxAgent"}
    plain = {vm.name: vm for vm in client.virtual_machines.list(RG)}  # without $expand: extension ids only
    assert plain["slurm1-scheduler"].properties.instance_view is None


def test_a_missing_permission_is_one_line_for_doctor_and_a_warning_for_run(azure, sim, capsys):
    sim.inject("VirtualMachineExtensions_List", status=403, times=-1, code="AuthorizationFailed",
               message="does not have authorization to perform action 'Microsoft.Compute/virtualMachines/extensions/read'")
    assert main(["doctor"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: extensions of virtual machine slurm1-scheduler: ")
    assert main(["run", "--once"]) == 0  # the pass did its work; the preflight only warns
    assert "preflight of the machines failed: extensions of virtual machine slurm1-scheduler" in capsys.readouterr().err


@pytest.mark.parametrize("identity, identifier, problem", [
    ("system", None, None),
    ("none", None, "no_identity"),
    ("user", None, "identity_not_named"),
    ("user", ("mi_res_id", "/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.MANAGEDIDENTITY/USERASSIGNEDIDENTITIES/MI"), None),
    ("user", ("client_id", "c-1"), None),
    ("user", ("object_id", "p-1"), None),
    ("user", ("client_id", "p-1"), "identity_not_named"),  # the object id given as a client id
    ("system+user", ("mi_res_id", "/subscriptions/s/other"), "identity_not_named"),  # names one it doesn't have
    ("system+user", None, None),
])
def test_the_identity_the_agent_uses(identity, identifier, problem):
    from controller.cluster import Agent, Identity, UserIdentity
    from controller.doctor.preflight import identity_problem

    user = (UserIdentity("/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mi",
                         "c-1", "p-1"),)
    identities = {"system": Identity(True), "none": Identity(), "user": Identity(False, user), "system+user": Identity(True, user)}
    assert identity_problem(identities[identity], Agent("Succeeded", identifier)) == problem


def test_a_machine_set_up_right_that_sends_nothing_is_silent(azure, sim, capsys):
    """The workspace has the last word: heartbeats and records, in 2 queries."""
    assert main(["run", "--once"]) == 0
    quiet = sim.vmss_members(sim.cluster.vmss_ids["htc"])[0]
    sim.silence(quiet, "the VM is stopped")
    sim.tick(15)
    sim.queries.clear()
    capsys.readouterr()
    code, out = doctor(capsys, "--json")
    assert code == 4
    machines = {m["id"].lower(): m for m in json.loads(out)["machines"]}
    silent = [m for m in machines.values() if not m["ok"]]
    assert [m["id"].lower() for m in silent] == [quiet.lower()] and silent[0]["verdict"] == "silent"
    assert silent[0]["heartbeat"] == "none in 1 d" and "azuremonitoragent" in silent[0]["fix"]
    healthy = machines[sim.cluster.scheduler_vm_id.lower()]
    assert healthy["ok"] and healthy["heartbeat"].endswith("s ago") and healthy["stalest table"].startswith("slurm")
    assert len(sim.queries) == 2  # at any cluster size


def test_heartbeats_older_than_ten_minutes_are_silence(azure, sim, capsys):
    assert main(["run", "--once"]) == 0
    sim.clock = lambda: datetime.now(timezone.utc) - timedelta(minutes=30)
    sim.tick(5)  # sent from 34 to 30 minutes ago, then nothing
    capsys.readouterr()
    code, out = doctor(capsys)
    assert code == 4 and out.splitlines()[-1] == "0/6 machines can send; 6 can't", out
    assert "30 min ago" in out and "silent" in out


def test_a_machine_the_agent_cannot_run_on_sends_nothing(azure, sim, capsys):
    """The simulated agent follows what ARM shows: no extension, no heartbeat."""
    vm = sim.vmss_members(sim.cluster.vmss_ids["htc"])[0]
    assert main(["run", "--once"]) == 0
    sim.remove(f"{vm}/extensions/AzureMonitorLinuxAgent")
    sim.tick(3)
    ws = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.OperationalInsights/workspaces/logs"
    senders = {r["_ResourceId"].lower() for r in sim.log_rows(ws, "Heartbeat")}
    assert vm.lower() not in senders and sim.cluster.scheduler_vm_id.lower() in senders


def test_a_pattern_the_agent_cannot_collect_is_named_on_the_machines_it_is_for(azure, sim, tmp_path, monkeypatch, capsys):
    """The reference's per-user archive layout, <root>/<user>/job_*: a wildcard in a directory."""
    from controller.components import default_config_path

    config = tmp_path / "components.yaml"
    config.write_text(default_config_path().read_text().replace(
        "archive: {root: /shared/slurm-logs, layout: flat}", "archive: {root: /shared/slurm-logs, layout: per-user}"))
    monkeypatch.setenv("SLURM_LOG_CONTROLLER_CONFIG", str(config))
    assert main(["run", "--once"]) == 0
    sim.tick(3)
    capsys.readouterr()
    code, out = doctor(capsys, "--json")
    assert code == 4
    broken_ones = {m["id"].lower(): m for m in json.loads(out)["machines"] if not m["ok"]}
    (scheduler,) = broken_ones.values()  # the archive is collected on the scheduler only
    assert scheduler["id"].lower() == sim.cluster.scheduler_vm_id.lower()
    assert scheduler["verdict"] == "pattern_not_collected"
    assert scheduler["fix"].startswith("/shared/slurm-logs/*/*: a wildcard in a directory") and "layout flat" in scheduler["fix"]
