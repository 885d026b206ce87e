"""The machines of some resource groups: VMs and VMSS read with list calls, never one GET per node."""

from __future__ import annotations

from azure.mgmt.compute import ComputeManagementClient

from ..cluster import Inventory, Machine, ScaleSetRecord
from .errors import arm_json, reading


class ComputeAdapter:
    def __init__(self, client: ComputeManagementClient):
        self.client = client

    def inventory(self, resource_groups: list[str]) -> Inventory:
        machines, scale_sets = [], []
        for group in resource_groups:
            with reading(f"scale sets of resource group {group}"):
                for item in self.client.virtual_machine_scale_sets.list(group):
                    s = arm_json(item)
                    mode = (s.get("properties") or {}).get("orchestrationMode") or "Uniform"
                    capacity = (s.get("sku") or {}).get("capacity") or 0
                    scale_sets.append(ScaleSetRecord(s["id"], mode, s.get("tags") or {}, capacity))
            with reading(f"virtual machines of resource group {group}"):
                for item in self.client.virtual_machines.list(group):
                    vm = arm_json(item)
                    props = vm.get("properties") or {}
                    parent = (props.get("virtualMachineScaleSet") or {}).get("id")
                    machines.append(Machine(vm["id"], vm.get("tags") or {}, parent, props.get("provisioningState", "")))
        return Inventory(tuple(machines), tuple(scale_sets))
