"""The machines of some resource groups: VMs and VMSS read with list calls, never one GET per node."""

from __future__ import annotations

from azure.mgmt.compute import ComputeManagementClient

from ..cluster import Agent, Identity, Inventory, Machine, ScaleSetRecord, UserIdentity
from ..resources import key, resource_group_of
from .errors import reading

# The Azure Monitor Agent for Linux (learn.microsoft.com azure-monitor agents/azure-monitor-agent-manage).
AGENT_PUBLISHER, AGENT_TYPE = "Microsoft.Azure.Monitor", "AzureMonitorLinuxAgent"


def identity_of(model) -> Identity:
    identity = getattr(model, "identity", None)
    if identity is None:
        return Identity()
    kind = str(getattr(identity.type, "value", identity.type) or "")
    users = tuple(
        UserIdentity(i, getattr(u, "client_id", "") or "", getattr(u, "principal_id", "") or "")
        for i, u in (identity.user_assigned_identities or {}).items()
    )
    return Identity("systemassigned" in kind.replace(" ", "").lower(), users)


def _agent_of(publisher, type_, state, settings, name="") -> Agent | None:
    if (publisher or "").lower() != AGENT_PUBLISHER.lower() or (type_ or "").lower() != AGENT_TYPE.lower():
        return None
    managed = ((settings or {}).get("authentication") or {}).get("managedIdentity") or {}
    kind, value = managed.get("identifier-name"), managed.get("identifier-value")
    return Agent(state or "", (kind, value) if kind and value else None, name or "")


def agent_of_scale_set(scale_set) -> Agent | None:
    """The agent in a scale set model's extensionProfile, which the scale set list returns."""
    profile = scale_set.properties and scale_set.properties.virtual_machine_profile
    for ext in (profile and profile.extension_profile and profile.extension_profile.extensions) or ():
        found = ext.properties and _agent_of(ext.properties.publisher, ext.properties.type, ext.properties.provisioning_state,
                                             ext.properties.settings, ext.name)
        if found:
            return found
    return None


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
                    scale_sets.append(ScaleSetRecord(
                        s.id, mode, dict(s.tags or {}), capacity, (s.sku and s.sku.name) or "", identity_of(s),
                        agent_of_scale_set(s),
                    ))
            with reading(f"virtual machines of resource group {group}"):
                for vm in self.client.virtual_machines.list(group):
                    props = vm.properties
                    parent = props and props.virtual_machine_scale_set and props.virtual_machine_scale_set.id
                    state = (props and props.provisioning_state) or ""
                    hardware = props and props.hardware_profile
                    size = str(getattr(hardware and hardware.vm_size, "value", None) or (hardware and hardware.vm_size) or "")
                    machines.append(Machine(vm.id, dict(vm.tags or {}), parent, state, size, identity_of(vm), vm.location or ""))
        return Inventory(tuple(machines), tuple(scale_sets))

    # --- what `doctor` reads besides the inventory: one list per VM it names (the scheduler's
    # few), one per scale set, however many nodes they hold ---
    def vm_agent(self, vm_id: str) -> Agent | None:
        """The VM list returns only the ids of a VM's extensions (Azure/azure-sdk-for-python#2165):
        their list on the VM has publisher, type, state and settings."""
        group, name = resource_group_of(vm_id), vm_id.rsplit("/", 1)[-1]
        with reading(f"extensions of virtual machine {name}"):
            for ext in self.client.virtual_machine_extensions.list(group, name).value or ():
                p = ext.properties
                found = p and _agent_of(p.publisher, p.type, p.provisioning_state, p.settings, ext.name)
                if found:
                    return found
        return None

    def instances_on_latest_model(self, vmss_id: str) -> dict[str, bool]:
        """Uniform instance id (lower case) -> latestModelApplied: a model change (the agent
        added) reaches an instance only when it is upgraded."""
        group, name = resource_group_of(vmss_id), vmss_id.rsplit("/", 1)[-1]
        with reading(f"instances of scale set {name}"):
            return {
                key(i.id): bool(i.properties and i.properties.latest_model_applied)
                for i in self.client.virtual_machine_scale_set_vms.list(group, name)
            }

    def member_agents(self, vmss_id: str) -> dict[str, Agent | None]:
        """Flexible member id (lower case) -> its agent, from the instance view of the VMs of the
        scale set: one filtered VM list (Azure takes $expand=instanceView only with that $filter)."""
        group, name = resource_group_of(vmss_id), vmss_id.rsplit("/", 1)[-1]
        found: dict[str, Agent | None] = {}
        with reading(f"virtual machines of scale set {name}"):
            for vm in self.client.virtual_machines.list(
                group, filter=f"'virtualMachineScaleSet/id' eq '{vmss_id}'", expand="instanceView",
            ):
                found[key(vm.id)] = None
                view = vm.properties and vm.properties.instance_view
                for ext in (view and view.extensions) or ():
                    publisher, _, type_ = (ext.type or "").rpartition(".")
                    codes = [s.code or "" for s in ext.statuses or ()]
                    state = next((c.split("/", 1)[1] for c in codes if c.startswith("ProvisioningState/")), "")
                    agent = _agent_of(publisher, type_, state.capitalize(), None, ext.name)
                    if agent:
                        found[key(vm.id)] = agent
        return found
