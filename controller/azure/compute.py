"""The machines of some resource groups: VMs and VMSS read with list calls, never one GET per node."""

from __future__ import annotations

from azure.mgmt.compute import ComputeManagementClient

from ..cluster import Inventory, Machine, ScaleSetRecord
from .errors import reading


class ComputeAdapter:
    def __init__(self, client: ComputeManagementClient):
        self.client = client

    def inventory(self, resource_groups: list[str]) -> Inventory:
        # Only the few fields we use are read off the models: at 2,000 nodes, turning every VM back
        # into JSON would cost more CPU than the rest of the pass.
        machines, scale_sets = [], []
        for group in resource_groups:
            with reading(f"scale sets of resource group {group}"):
                for s in self.client.virtual_machine_scale_sets.list(group):
                    props = s.properties
                    mode = str(getattr(props and props.orchestration_mode, "value", None) or "Uniform")
                    capacity = (s.sku and s.sku.capacity) or 0
                    scale_sets.append(ScaleSetRecord(s.id, mode, dict(s.tags or {}), capacity))
            with reading(f"virtual machines of resource group {group}"):
                for vm in self.client.virtual_machines.list(group):
                    props = vm.properties
                    parent = props and props.virtual_machine_scale_set and props.virtual_machine_scale_set.id
                    state = (props and props.provisioning_state) or ""
                    machines.append(Machine(vm.id, dict(vm.tags or {}), parent, state))
        return Inventory(tuple(machines), tuple(scale_sets))
