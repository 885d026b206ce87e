"""Which machines make up the cluster, from an inventory of VMs and VMSS (pure).

CycleCloud tags every VM and scale set of a cluster with `ClusterName`, the nodes of a nodearray
(and their scale set) with `CycleCloudNodeArray: /sites/<site>/clusters/<c>/nodearrays/<na>`, and
head nodes with `Name` (learn.microsoft.com/azure/cyclecloud/how-to/tag-nodes). It makes a new
scale set per nodearray, machine type and placement group, so nodes are found by tag, not by one
VMSS_ID; explicit VM_ID and VMSS_ID still count.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UserError
from .resources import Cluster, ScaleSet, key

CLUSTER_TAG = "ClusterName"
NODEARRAY_TAG = "CycleCloudNodeArray"
HEAD_NODE_TAG = "Name"
GONE = {"deleting", "failed"}  # machines on their way out get no new associations


@dataclass(frozen=True)
class Machine:
    id: str
    tags: dict
    scale_set: str | None = None  # set for members of a Flexible scale set
    provisioning_state: str = "Succeeded"


@dataclass(frozen=True)
class ScaleSetRecord:
    id: str
    orchestration_mode: str
    tags: dict
    capacity: int = 0


@dataclass(frozen=True)
class Inventory:
    machines: tuple[Machine, ...] = ()
    scale_sets: tuple[ScaleSetRecord, ...] = ()


def find_cluster(
    inventory: Inventory,
    cluster_name: str,
    scheduler_name: str = "scheduler",
    vm_id: str | None = None,
    vmss_ids: list[str] = (),
) -> Cluster:
    def ours(tags: dict) -> bool:
        return tags.get(CLUSTER_TAG) == cluster_name

    explicit = {key(i) for i in vmss_ids}
    node_sets = [s for s in inventory.scale_sets if key(s.id) in explicit or (ours(s.tags) and NODEARRAY_TAG in s.tags)]
    missing = explicit - {key(s.id) for s in node_sets}
    if missing:
        raise UserError(f"VMSS_ID {sorted(missing)[0]} not found: fix VMSS_ID, or CLUSTER_RESOURCE_GROUPS to include it")

    live = [m for m in inventory.machines if m.provisioning_state.lower() not in GONE]
    members: dict[str, list[str]] = {}
    for machine in live:
        if machine.scale_set:
            members.setdefault(key(machine.scale_set), []).append(machine.id)

    if vm_id:
        if key(vm_id) not in {key(m.id) for m in inventory.machines}:
            raise UserError(f"VM_ID {vm_id} not found: fix VM_ID, or CLUSTER_RESOURCE_GROUPS to include it")
        schedulers = (vm_id,)
    else:
        schedulers = tuple(
            m.id for m in live if ours(m.tags) and m.tags.get(HEAD_NODE_TAG) == scheduler_name and not m.scale_set
        )
    return Cluster(
        scheduler_vms=schedulers,
        scale_sets=tuple(
            ScaleSet(s.id, s.orchestration_mode, tuple(sorted(members.get(key(s.id), []))), s.capacity)
            for s in node_sets
        ),
    )
