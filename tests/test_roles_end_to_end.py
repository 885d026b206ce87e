"""Roles from CycleCloud's nodearrays, end to end: in a cluster made as CycleCloud's default Slurm
template makes it (compute, login and scheduler-ha nodearrays), each machine gets exactly its
role's DCRs."""

from __future__ import annotations

import pytest

from controller.cli import main
from controller.components import load_components
from controller.simulator import ArmSimulator
from tests.support import RG, SUB


def dcrs_for(role: str) -> set[str]:
    return {c.rule for c in load_components() if role in {r.value for r in c.roles}}


def dcrs_on(sim, machine: str) -> set[str]:
    prefix = machine.lower() + "/providers/microsoft.insights/datacollectionruleassociations/"
    return {
        a["properties"]["dataCollectionRuleId"].rsplit("/", 1)[-1]
        for a in sim.list("association")
        if a["id"].lower().startswith(prefix)
    }


@pytest.fixture
def template_cluster(monkeypatch, tmp_path):
    """CycleCloud's default Slurm template: compute nodearrays, plus login and scheduler-ha; every
    tag name in a random casing (Azure tag names are case-insensitive)."""
    sim = ArmSimulator(subscription_id=SUB)
    sim.add_workspace(resource_group=RG, name="logs", location="eastus")
    sim.cluster = sim.add_cyclecloud_cluster(
        resource_group=RG, cluster_name="slurm1", location="eastus",
        nodearrays={"hpc": ("Uniform", 2), "gpu": ("Flexible", 1), "login": ("Flexible", 2), "scheduler-ha": ("Flexible", 1)},
        tag_case="random", tag_seed=7,
    )
    assert not all("ClusterName" in vm["tags"] for vm in sim.list("virtualMachines"))  # the casing really varies
    monkeypatch.chdir(tmp_path)
    with sim.serve() as server:
        for name, value in {**server.env(), "SUBSCRIPTION_ID": SUB, "RESOURCE_GROUP": RG, "WORKSPACE_NAME": "logs"}.items():
            monkeypatch.setenv(name, value)
        yield sim


def test_each_nodearray_gets_its_roles_dcrs(template_cluster, monkeypatch):
    sim = template_cluster
    monkeypatch.setenv("CLUSTER_NAME", "slurm1")
    assert main(["run", "--once"]) == 0
    assert dcrs_on(sim, sim.cluster.scheduler_vm_id) == dcrs_for("scheduler")
    assert dcrs_on(sim, sim.cluster.vmss_ids["hpc"]) == dcrs_for("nodes")  # Uniform: on the scale set
    for nodearray, role in (("gpu", "nodes"), ("login", "login"), ("scheduler-ha", "scheduler")):
        members = sim.vmss_members(sim.cluster.vmss_ids[nodearray])
        assert members
        for vm in members:
            assert dcrs_on(sim, vm) == dcrs_for(role), (nodearray, vm)
    # an HA scheduler gets slurmctld's DCR, a login node only the shared ones
    assert "slurmctld_raw_dcr" in dcrs_for("scheduler") and dcrs_for("login") == {"syslog_raw_dcr", "jetpack_raw_dcr", "jetpackd_raw_dcr"}
    assert main(["plan"]) == 0


def test_the_config_maps_other_nodearrays(template_cluster, monkeypatch, tmp_path):
    sim = template_cluster
    monkeypatch.setenv("CLUSTER_NAME", "slurm1")
    shipped = (tmp_path / "c.yaml")
    from controller.components import default_config_path

    shipped.write_text(default_config_path().read_text().replace("  login: login\n", "  login: login\n  gpu: login\n"))
    assert main(["run", "--once", "--config", str(shipped)]) == 0
    for vm in sim.vmss_members(sim.cluster.vmss_ids["gpu"]):
        assert dcrs_on(sim, vm) == dcrs_for("login")


def test_the_cluster_name_is_read_from_a_tag_in_any_casing(template_cluster, monkeypatch):
    sim = template_cluster
    monkeypatch.setenv("VM_ID", sim.cluster.scheduler_vm_id)
    assert main(["run", "--once"]) == 0
    rule = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Insights/dataCollectionRules/slurmd_raw_dcr"
    assert sim.get(rule)["tags"]["slurm-log-controller-cluster"] == "slurm1"
