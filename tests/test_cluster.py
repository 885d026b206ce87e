"""Finding the cluster's machines from CycleCloud's tags (pure)."""

import pytest

from controller.cluster import Inventory, Machine, ScaleSetRecord, find_cluster
from controller.errors import UserError

P = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute"
SITE = "/sites/abc/clusters/c1"


def tags(cluster="c1", nodearray=None, name=None):
    t = {"ClusterName": cluster, "CycleCloudCluster": f"/sites/abc/clusters/{cluster}"}
    if nodearray:
        t["CycleCloudNodeArray"] = f"/sites/abc/clusters/{cluster}/nodearrays/{nodearray}"
    if name:
        t["Name"] = name
    return t


INVENTORY = Inventory(
    machines=(
        Machine(f"{P}/virtualMachines/c1-scheduler", tags(name="scheduler")),
        Machine(f"{P}/virtualMachines/c1-login", tags(name="login1")),
        Machine(f"{P}/virtualMachines/htc_1", tags(nodearray="htc"), f"{P}/virtualMachineScaleSets/c1-htc"),
        Machine(f"{P}/virtualMachines/htc_2", tags(nodearray="htc"), f"{P}/virtualMachineScaleSets/c1-htc", "Creating"),
        Machine(f"{P}/virtualMachines/htc_3", tags(nodearray="htc"), f"{P}/virtualMachineScaleSets/c1-htc", "Deleting"),
        Machine(f"{P}/virtualMachines/c2-scheduler", tags(cluster="c2", name="scheduler")),
    ),
    scale_sets=(
        ScaleSetRecord(f"{P}/virtualMachineScaleSets/c1-hpc", "Uniform", tags(nodearray="hpc")),
        ScaleSetRecord(f"{P}/virtualMachineScaleSets/c1-hpc-pg1", "Uniform", tags(nodearray="hpc")),
        ScaleSetRecord(f"{P}/virtualMachineScaleSets/c1-htc", "Flexible", tags(nodearray="htc")),
        ScaleSetRecord(f"{P}/virtualMachineScaleSets/c2-hpc", "Uniform", tags(cluster="c2", nodearray="hpc")),
        ScaleSetRecord(f"{P}/virtualMachineScaleSets/untagged", "Uniform", {}),
    ),
)


def test_nodes_and_scheduler_are_found_by_tag():
    cluster = find_cluster(INVENTORY, "c1")
    assert cluster.scheduler_vms == (f"{P}/virtualMachines/c1-scheduler",)
    # one scale set per nodearray, machine type and placement group; another cluster's are not ours
    assert [s.id.rsplit("/", 1)[-1] for s in cluster.scale_sets] == ["c1-hpc", "c1-hpc-pg1", "c1-htc"]
    # a VM still being created is covered as soon as it exists; one being deleted is not
    assert cluster.node_targets() == [
        f"{P}/virtualMachineScaleSets/c1-hpc",
        f"{P}/virtualMachineScaleSets/c1-hpc-pg1",
        f"{P}/virtualMachines/htc_1",
        f"{P}/virtualMachines/htc_2",
    ]


def test_explicit_ids_count_too():
    untagged = f"{P}/virtualMachineScaleSets/untagged"
    cluster = find_cluster(INVENTORY, "c1", vm_id=f"{P}/virtualMachines/c1-login", vmss_ids=[untagged.upper()])
    assert cluster.scheduler_vms == (f"{P}/virtualMachines/c1-login",)
    assert untagged in [s.id for s in cluster.scale_sets]


def test_another_scheduler_name():
    assert find_cluster(INVENTORY, "c1", scheduler_name="login1").scheduler_vms == (f"{P}/virtualMachines/c1-login",)


@pytest.mark.parametrize("kwargs, word", [
    ({"vm_id": f"{P}/virtualMachines/nope"}, "VM_ID"),
    ({"vmss_ids": [f"{P}/virtualMachineScaleSets/nope"]}, "VMSS_ID"),
])
def test_explicit_ids_that_do_not_exist(kwargs, word):
    with pytest.raises(UserError, match=word):
        find_cluster(INVENTORY, "c1", **kwargs)


def test_an_unavailable_test_skips_locally_and_fails_in_ci(monkeypatch):
    from tests.support import unavailable

    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        unavailable("no tool")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no tool"):
        unavailable("no tool")
