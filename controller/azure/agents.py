"""The Azure Monitor Agent's extension on VMs and scale set models, and the upgrade of Uniform
instances to their model: remediation's writes, each a long-running operation we wait for."""

from __future__ import annotations

from azure.mgmt.compute import ComputeManagementClient

from ..remediation import AgentExtension, InstanceUpgrade
from ..resources import resource_group_of


class AgentAdapter:
    def __init__(self, client: ComputeManagementClient):
        self.client = client

    def put(self, extension: AgentExtension) -> None:
        group, machine = resource_group_of(extension.target_id), extension.name
        operations = (self.client.virtual_machine_scale_set_extensions if extension.on_scale_set
                      else self.client.virtual_machine_extensions)
        operations.begin_create_or_update(group, machine, extension.extension_name, extension.body()).result()


class UpgradeAdapter:
    def __init__(self, client: ComputeManagementClient):
        self.client = client

    def put(self, upgrade: InstanceUpgrade) -> None:
        self.client.virtual_machine_scale_sets.begin_update_instances(
            resource_group_of(upgrade.vmss_id), upgrade.name, {"instanceIds": list(upgrade.instance_ids)},
        ).result()
