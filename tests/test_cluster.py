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
    assert list(cluster.targets_of("nodes")) == [
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


SCHEDULER_ID = f"{P}/virtualMachines/c1-scheduler"


def test_the_cluster_name_comes_from_the_tag_of_vm_id_or_vmss_id_when_unset():
    assert find_cluster(INVENTORY, None, vm_id=SCHEDULER_ID).name == "c1"
    cluster = find_cluster(INVENTORY, None, vmss_ids=[f"{P}/virtualMachineScaleSets/c1-htc"])
    assert cluster.name == "c1" and len(cluster.scale_sets) == 3
    assert find_cluster(INVENTORY, "c1").name == "c1"


@pytest.mark.parametrize("kwargs, words", [
    # nothing names the cluster: an untagged scale set
    ({"vmss_ids": [f"{P}/virtualMachineScaleSets/untagged"]}, ["untagged carries no ClusterName tag", "set CLUSTER_NAME"]),
    # the machines disagree
    ({"vm_id": SCHEDULER_ID, "vmss_ids": [f"{P}/virtualMachineScaleSets/c2-hpc"]}, ["different clusters", "set CLUSTER_NAME"]),
])
def test_an_unnamed_cluster_that_cannot_be_named_is_an_error(kwargs, words):
    with pytest.raises(UserError) as caught:
        find_cluster(INVENTORY, None, **kwargs)
    assert all(w in str(caught.value) for w in words), caught.value


def test_a_cluster_name_that_contradicts_the_tag_of_vm_id_is_an_error():
    with pytest.raises(UserError, match="VM_ID c1-scheduler is tagged ClusterName=c1 but CLUSTER_NAME is c1x"):
        find_cluster(INVENTORY, "c1x", vm_id=SCHEDULER_ID)
    # a VM_ID that isn't a CycleCloud VM (no tag) is the user's word
    untagged = Inventory((Machine(f"{P}/virtualMachines/plain", {}),))
    assert find_cluster(untagged, "c1x", vm_id=f"{P}/virtualMachines/plain").scheduler_vms


def test_tag_names_are_case_insensitive_as_in_azure():
    lower = Inventory(
        (Machine(f"{P}/virtualMachines/s", {"clustername": "c1", "name": "scheduler"}),),
        (ScaleSetRecord(f"{P}/virtualMachineScaleSets/h", "Uniform", {"CLUSTERNAME": "c1", "CycleCloudNodearray": "x"}),),
    )
    cluster = find_cluster(lower, "c1")
    assert cluster.scheduler_vms and cluster.scale_sets


def test_no_machine_or_no_scheduler_is_an_error_but_no_nodes_is_not():
    from controller.cluster import require_machines
    from controller.resources import Cluster

    with pytest.raises(UserError, match="no machine tagged ClusterName=typo in resource group.s. rg: check CLUSTER_NAME"):
        require_machines(find_cluster(INVENTORY, "typo"), True, "scheduler", ["rg"])
    only_nodes = find_cluster(INVENTORY, "c1", scheduler_name="nope")
    with pytest.raises(UserError, match="no scheduler VM of cluster c1 .tagged Name=nope.*set VM_ID"):
        require_machines(only_nodes, True, "nope", ["rg"])
    require_machines(only_nodes, False, "nope", ["rg"])  # a config with no scheduler logs needs none
    require_machines(Cluster((SCHEDULER_ID,), (), "c1"), True, "scheduler", ["rg"])  # scaled to zero: fine
