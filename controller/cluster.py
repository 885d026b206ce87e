"""Which machines make up the cluster, from an inventory of VMs and VMSS (pure).

CycleCloud tags every VM and scale set of a cluster with `ClusterName`, the nodes of a nodearray
(and their scale set) with `CycleCloudNodeArray: /sites/<site>/clusters/<c>/nodearrays/<na>`, and
head nodes with `Name` (learn.microsoft.com/azure/cyclecloud/how-to/tag-nodes). It makes a new
scale set per nodearray, machine type and placement group, so nodes are found by tag, not by one
VMSS_ID; explicit VM_ID and VMSS_ID still count.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import SettingsError
from .resources import Cluster, ScaleSet, key

CLUSTER_TAG = "ClusterName"
NODEARRAY_TAG = "CycleCloudNodeArray"
HEAD_NODE_TAG = "Name"
GONE = {"deleting", "failed"}  # machines on their way out get no new associations


@dataclass(frozen=True)
class Agent:
    """An Azure Monitor Agent extension as a VM or a scale set model carries it."""

    provisioning_state: str = "Succeeded"
    # authentication.managedIdentity identifier-name/-value of its settings: which user-assigned
    # identity it uses (mi_res_id | object_id | client_id), or None for the system-assigned one.
    identifier: tuple[str, str] | None = None
    name: str = ""  # the extension's name: ours start with the association prefix (scale set extensions have no tags)


@dataclass(frozen=True)
class UserIdentity:
    id: str
    client_id: str = ""
    principal_id: str = ""


@dataclass(frozen=True)
class Identity:
    system_assigned: bool = False
    user_assigned: tuple[UserIdentity, ...] = ()


@dataclass(frozen=True)
class Machine:
    id: str
    tags: dict
    scale_set: str | None = None  # set for members of a Flexible scale set
    provisioning_state: str = "Succeeded"
    vm_size: str = ""
    identity: Identity = Identity()
    location: str = ""


@dataclass(frozen=True)
class ScaleSetRecord:
    id: str
    orchestration_mode: str
    tags: dict
    capacity: int = 0
    vm_size: str = ""
    identity: Identity = Identity()
    agent: Agent | None = None  # the model's, which Uniform instances get once they apply it


@dataclass(frozen=True)
class Inventory:
    machines: tuple[Machine, ...] = ()
    scale_sets: tuple[ScaleSetRecord, ...] = ()


def tag(tags: dict, name: str) -> str | None:
    """Azure tag names are case-insensitive (CycleCloud's docs spell the nodearray tag two ways)."""
    name = name.lower()
    return next((v for k, v in (tags or {}).items() if k.lower() == name), None)


def cluster_name_of(inventory: Inventory, vm_id: str | None, vmss_ids: list[str]) -> str:
    """Without CLUSTER_NAME (the reference document's .env has none): the ClusterName tag that
    CycleCloud put on the VM_ID/VMSS_ID machines. They must agree, or the cluster is ambiguous."""
    named = {key(i) for i in [vm_id, *vmss_ids] if i}
    found = {
        record.id: tag(record.tags, CLUSTER_TAG)
        for record in (*inventory.machines, *inventory.scale_sets)
        if key(record.id) in named
    }
    names = sorted({n for n in found.values() if n})
    if len(names) > 1:
        which = ", ".join(f"{i.rsplit('/', 1)[-1]} says {n}" for i, n in found.items() if n)
        raise SettingsError(f"the VM_ID/VMSS_ID machines belong to different clusters ({which}): set CLUSTER_NAME")
    if not names:
        where = ", ".join(i.rsplit("/", 1)[-1] for i in found) or "VM_ID/VMSS_ID"
        raise SettingsError(
            f"CLUSTER_NAME is not set and {where} carries no {CLUSTER_TAG} tag to read it from: set CLUSTER_NAME"
        )
    return names[0]


def _same_cluster(inventory: Inventory, name: str, vm_id: str | None, vmss_ids: list[str]) -> None:
    """A CLUSTER_NAME typo beside a right VM_ID would mark everything as another cluster's."""
    named = {key(i) for i in [vm_id, *vmss_ids] if i}
    for record in (*inventory.machines, *inventory.scale_sets):
        tagged = tag(record.tags, CLUSTER_TAG) if key(record.id) in named else None
        if tagged and tagged != name:
            setting = "VMSS_ID" if record in inventory.scale_sets else "VM_ID"
            raise SettingsError(
                f"{setting} {record.id.rsplit('/', 1)[-1]} is tagged {CLUSTER_TAG}={tagged} but CLUSTER_NAME is {name}: "
                "fix CLUSTER_NAME (or unset it to use the tag), or point VM_ID/VMSS_ID at this cluster's machines"
            )


def find_cluster(
    inventory: Inventory,
    cluster_name: str | None,
    scheduler_name: str = "scheduler",
    vm_id: str | None = None,
    vmss_ids: list[str] = (),
    nodearray_roles: dict[str, str] | None = None,
) -> Cluster:
    """The cluster named `cluster_name`, or, when that is None, by the tag of the VM_ID/VMSS_ID
    machines. Each scale set's role is its nodearray's in `nodearray_roles`, else `nodes`."""
    roles = {n.lower(): str(getattr(r, "value", r)) for n, r in (nodearray_roles or {}).items()}
    explicit = {key(i) for i in vmss_ids}
    missing = explicit - {key(s.id) for s in inventory.scale_sets}
    if missing:
        raise SettingsError(f"VMSS_ID {sorted(missing)[0]} not found: fix VMSS_ID, or CLUSTER_RESOURCE_GROUPS to include it")
    if vm_id and key(vm_id) not in {key(m.id) for m in inventory.machines}:
        raise SettingsError(f"VM_ID {vm_id} not found: fix VM_ID, or CLUSTER_RESOURCE_GROUPS to include it")
    name = cluster_name or cluster_name_of(inventory, vm_id, list(vmss_ids))
    _same_cluster(inventory, name, vm_id, list(vmss_ids))

    def ours(tags: dict) -> bool:
        return tag(tags, CLUSTER_TAG) == name

    nodearray_sets = nodearray_scale_sets(inventory.scale_sets, name, vmss_ids)

    live = [m for m in inventory.machines if m.provisioning_state.lower() not in GONE]
    members: dict[str, list[str]] = {}
    for machine in live:
        if machine.scale_set:
            members.setdefault(key(machine.scale_set), []).append(machine.id)

    if vm_id:
        schedulers = (vm_id,)
    else:
        schedulers = tuple(
            m.id for m in live if ours(m.tags) and tag(m.tags, HEAD_NODE_TAG) == scheduler_name and not m.scale_set
        )
    return Cluster(
        name=name,
        scheduler_vms=schedulers,
        scale_sets=tuple(
            ScaleSet(
                s.id, s.orchestration_mode, tuple(sorted(members.get(key(s.id), []))), s.capacity,
                roles.get(nodearray_of(s.tags).lower(), "nodes"),
            )
            for s in nodearray_sets
        ),
    )


def nodearray_scale_sets(scale_sets, cluster_name: str, vmss_ids=()) -> list[ScaleSetRecord]:
    """The cluster's nodearrays' scale sets: tagged with its name and a nodearray, or named by VMSS_ID."""
    explicit = {key(i) for i in vmss_ids}
    return [
        s for s in scale_sets
        if key(s.id) in explicit or (tag(s.tags, CLUSTER_TAG) == cluster_name and tag(s.tags, NODEARRAY_TAG))
    ]


def known_cluster_name(scale_sets, cluster_name: str | None, vmss_ids=()) -> str | None:
    """The cluster's name before its VMs are read: CLUSTER_NAME, or the one ClusterName tag of the
    VMSS_ID scale sets (find_cluster, with the VMs, has the last word)."""
    if cluster_name:
        return cluster_name
    named = {key(i) for i in vmss_ids}
    names = {tag(s.tags, CLUSTER_TAG) for s in scale_sets if key(s.id) in named}
    return names.pop() if len(names) == 1 else None


def nodearray_of(tags: dict) -> str:
    """`CycleCloudNodeArray: /sites/<site>/clusters/<cluster>/nodearrays/<name>` -> name ('' untagged)."""
    return (tag(tags, NODEARRAY_TAG) or "").rstrip("/").rsplit("/", 1)[-1]


def require_machines(cluster: Cluster, needs_scheduler: bool, scheduler_name: str, searched: list[str]) -> None:
    """A cluster name or resource group typo must not create 10 tables and 10 DCRs for a cluster
    that isn't there: no machine at all, or no scheduler for the scheduler's logs, is an error
    before any write. Nodes scaled to zero (or never started) are normal."""
    groups = ", ".join(searched)
    if not cluster.scheduler_vms and not cluster.scale_sets:
        raise SettingsError(
            f"no machine tagged ClusterName={cluster.name} in resource group(s) {groups}: check CLUSTER_NAME "
            "(the cluster's name in CycleCloud) and CLUSTER_RESOURCE_GROUPS; nothing was written"
        )
    if needs_scheduler and not cluster.scheduler_vms:
        raise SettingsError(
            f"no scheduler VM of cluster {cluster.name} (tagged Name={scheduler_name}) in resource group(s) {groups}: "
            "set VM_ID to the scheduler VM's resource id, or SCHEDULER_NODE_NAME to its CycleCloud node name; "
            "nothing was written"
        )
