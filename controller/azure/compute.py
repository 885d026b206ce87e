"""The cluster's machines: VMs and VMSS found by list calls, never one GET per node."""

from __future__ import annotations

from azure.mgmt.compute import ComputeManagementClient

from ..errors import UserError
from ..resources import Cluster, ScaleSet, key
from .errors import arm_json, reading

CLUSTER_TAG = "ClusterName"  # CycleCloud tags every VM and VMSS of a cluster with it
NODEARRAY_TAG = "CycleCloudNodeArray"  # ... and the nodes with their nodearray


class ComputeAdapter:
    def __init__(self, client: ComputeManagementClient):
        self.client = client

    def _list(self, what: str, pages) -> list[dict]:
        with reading(what):
            return [arm_json(item) for item in pages]

    def discover(
        self, resource_groups: list[str], cluster_name: str | None, scheduler_vm: str | None, vmss_ids: list[str]
    ) -> Cluster:
        """The scheduler VM (VM_ID) and node VMSS (VMSS_ID, plus every VMSS tagged with the cluster's
        ClusterName and a CycleCloudNodeArray), with the member VMs of Flexible ones."""
        explicit = {key(i) for i in vmss_ids}
        scale_sets, vms = [], []
        for group in resource_groups:
            scale_sets += self._list(f"scale sets of resource group {group}", self.client.virtual_machine_scale_sets.list(group))
            vms += self._list(f"virtual machines of resource group {group}", self.client.virtual_machines.list(group))

        def tagged(resource: dict) -> bool:
            tags = resource.get("tags") or {}
            return bool(cluster_name) and tags.get(CLUSTER_TAG) == cluster_name and NODEARRAY_TAG in tags

        members: dict[str, list[str]] = {}
        for vm in vms:
            parent = ((vm.get("properties") or {}).get("virtualMachineScaleSet") or {}).get("id")
            if parent:
                members.setdefault(key(parent), []).append(vm["id"])
        nodes = [
            ScaleSet(
                id=s["id"],
                orchestration_mode=(s.get("properties") or {}).get("orchestrationMode") or "Uniform",
                nodearray=(s.get("tags") or {}).get(NODEARRAY_TAG, ""),
                members=tuple(sorted(members.get(key(s["id"]), []))),
            )
            for s in scale_sets
            if key(s["id"]) in explicit or tagged(s)
        ]
        missing = explicit - {key(s.id) for s in nodes}
        if missing:
            raise UserError(
                f"VMSS_ID {sorted(missing)[0]} not found in resource groups {', '.join(resource_groups)}: "
                "fix VMSS_ID or set CLUSTER_RESOURCE_GROUPS"
            )
        if scheduler_vm and key(scheduler_vm) not in {key(vm["id"]) for vm in vms}:
            raise UserError(
                f"VM_ID {scheduler_vm} not found in resource groups {', '.join(resource_groups)}: "
                "fix VM_ID or set CLUSTER_RESOURCE_GROUPS"
            )
        return Cluster(scheduler_vms=(scheduler_vm,) if scheduler_vm else (), scale_sets=tuple(nodes))
