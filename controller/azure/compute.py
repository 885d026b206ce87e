"""The machines of some resource groups: VMs and VMSS read with list calls, never one GET per node."""

from __future__ import annotations

from azure.mgmt.compute import ComputeManagementClient

from ..cluster import Agent, Identity, Inventory, Machine, ScaleSetRecord, UserIdentity
from ..resources import key, resource_group_of
from .errors import reading
from .pages import group_path, list_items

# The Azure Monitor Agent for Linux (learn.microsoft.com azure-monitor agents/azure-monitor-agent-manage).
AGENT_PUBLISHER, AGENT_TYPE = "Microsoft.Azure.Monitor", "AzureMonitorLinuxAgent"
API_VERSION = "2026-04-01"  # the installed azure-mgmt-compute's for VMs and scale sets


def identity_of(data: dict) -> Identity:
    """A VM's or scale set's `identity`, as ARM's JSON has it."""
    identity = data.get("identity")
    if not identity:
        return Identity()
    users = tuple(
        UserIdentity(i, (u or {}).get("clientId") or "", (u or {}).get("principalId") or "")
        for i, u in (identity.get("userAssignedIdentities") or {}).items()
    )
    return Identity("systemassigned" in (identity.get("type") or "").replace(" ", "").lower(), users)


def _agent_of(publisher, type_, state, settings, name="") -> Agent | None:
    if (publisher or "").lower() != AGENT_PUBLISHER.lower() or (type_ or "").lower() != AGENT_TYPE.lower():
        return None
    managed = ((settings or {}).get("authentication") or {}).get("managedIdentity") or {}
    kind, value = managed.get("identifier-name"), managed.get("identifier-value")
    return Agent(state or "", (kind, value) if kind and value else None, name or "")


def agent_of_scale_set(props: dict) -> Agent | None:
    """The agent in a scale set model's extensionProfile, which the scale set list returns."""
    profile = (props.get("virtualMachineProfile") or {}).get("extensionProfile") or {}
    for ext in profile.get("extensions") or ():
        p = ext.get("properties") or {}
        found = _agent_of(p.get("publisher"), p.get("type"), p.get("provisioningState"), p.get("settings"), ext.get("name"))
        if found:
            return found
    return None


class ComputeAdapter:
    def __init__(self, client: ComputeManagementClient):
        self.client = client

    def _list(self, path: str, query: dict[str, str] | None = None):
        return list_items(self.client, path, API_VERSION, query)

    def inventory(self, resource_groups: list[str]) -> Inventory:
        return Inventory(tuple(self.machines(resource_groups)), tuple(self.scale_sets(resource_groups)))

    # Only the few fields we use are read off ARM's JSON (see .pages).
    def scale_sets(self, resource_groups: list[str]) -> list[ScaleSetRecord]:
        found = []
        for group in resource_groups:
            with reading(f"scale sets of resource group {group}"):
                for s in self._list(f"{group_path(self.client, group)}/providers/Microsoft.Compute/virtualMachineScaleSets"):
                    props, sku = s.get("properties") or {}, s.get("sku") or {}
                    found.append(ScaleSetRecord(
                        s["id"], props.get("orchestrationMode") or "Uniform", dict(s.get("tags") or {}),
                        sku.get("capacity") or 0, sku.get("name") or "", identity_of(s), agent_of_scale_set(props),
                    ))
        return found

    def machines(self, resource_groups: list[str]) -> list[Machine]:
        found = []
        for group in resource_groups:
            with reading(f"virtual machines of resource group {group}"):
                for vm in self._list(f"{group_path(self.client, group)}/providers/Microsoft.Compute/virtualMachines"):
                    props = vm.get("properties") or {}
                    parent = (props.get("virtualMachineScaleSet") or {}).get("id")
                    size = (props.get("hardwareProfile") or {}).get("vmSize") or ""
                    found.append(Machine(vm["id"], dict(vm.get("tags") or {}), parent,
                                         props.get("provisioningState") or "", size, identity_of(vm), vm.get("location") or ""))
        return found

    # --- what `doctor` reads besides the inventory: one list per VM it names (the scheduler's
    # few), one per scale set, however many nodes they hold ---
    def vm_agent(self, vm_id: str) -> Agent | None:
        """The VM list returns only the ids of a VM's extensions (Azure/azure-sdk-for-python#2165):
        their list on the VM has publisher, type, state and settings."""
        with reading(f"extensions of virtual machine {vm_id.rsplit('/', 1)[-1]}"):
            for ext in self._list(f"{vm_id}/extensions"):
                p = ext.get("properties") or {}
                found = _agent_of(p.get("publisher"), p.get("type"), p.get("provisioningState"), p.get("settings"), ext.get("name"))
                if found:
                    return found
        return None

    def instances_on_latest_model(self, vmss_id: str) -> dict[str, bool]:
        """Uniform instance id (lower case) -> latestModelApplied: a model change (the agent
        added) reaches an instance only when it is upgraded."""
        with reading(f"instances of scale set {vmss_id.rsplit('/', 1)[-1]}"):
            return {
                key(i["id"]): bool((i.get("properties") or {}).get("latestModelApplied"))
                for i in self._list(f"{vmss_id}/virtualMachines")
            }

    def member_agents(self, vmss_id: str) -> dict[str, Agent | None]:
        """Flexible member id (lower case) -> its agent, from the instance view of the VMs of the
        scale set: one filtered VM list (Azure takes $expand=instanceView only with that $filter)."""
        group, name = resource_group_of(vmss_id), vmss_id.rsplit("/", 1)[-1]
        found: dict[str, Agent | None] = {}
        query = {"$filter": f"'virtualMachineScaleSet/id' eq '{vmss_id}'", "$expand": "instanceView"}
        with reading(f"virtual machines of scale set {name}"):
            for vm in self._list(f"{group_path(self.client, group)}/providers/Microsoft.Compute/virtualMachines", query):
                found[key(vm["id"])] = None
                view = (vm.get("properties") or {}).get("instanceView") or {}
                for ext in view.get("extensions") or ():
                    publisher, _, type_ = (ext.get("type") or "").rpartition(".")
                    codes = [s.get("code") or "" for s in ext.get("statuses") or ()]
                    state = next((c.split("/", 1)[1] for c in codes if c.startswith("ProvisioningState/")), "")
                    agent = _agent_of(publisher, type_, state.capitalize(), None, ext.get("name"))
                    if agent:
                        found[key(vm["id"])] = agent
        return found
