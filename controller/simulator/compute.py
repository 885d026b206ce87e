"""Microsoft.Compute: VMs, scale sets (Uniform and Flexible) and their instances, Compute's own
throttling, and the CycleCloud cluster builder.

CycleCloud's tags (learn.microsoft.com/azure/cyclecloud/how-to/tag-nodes, v8.2 onwards), as
:meth:`ComputeMixin.add_cyclecloud_cluster` sets them:

* every VM and VMSS of a cluster: ``ClusterName: <cluster>``, ``CycleCloudCluster:
  /sites/<site>/clusters/<cluster>``, ``CycleOwner``, ``LaunchTime``
* node scale sets and their VMs/instances: ``CycleCloudNodeArray:
  /sites/<site>/clusters/<cluster>/nodearrays/<nodearray>``
* head nodes (the scheduler VM): ``Name: scheduler``
"""

from __future__ import annotations

import copy
import json
import random
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from .core import _collection_of, _rg_of
from .errors import ArmError, not_found
from .messages import SimResponse, _Ctx
from .resources import T_VM, T_VM_EXT, T_VMSS, T_VMSS_VM
from .throttle import Fault

# An RSA-4096 public key's length, as `az vm create --generate-ssh-keys` and CycleCloud put on a VM.
_SSH_KEY = "ssh-rsa " + "A" * 716 + " cyclecloud@scheduler"

CYCLECLOUD_SITE = "0a1b2c3d"  # a made-up CycleCloud site id
#: other spellings of a tag name seen in CycleCloud's own tag-nodes page
TAG_SPELLINGS = {"CycleCloudNodeArray": ("CycleCloudNodearray",)}


def recased(tags: dict[str, str], casing: random.Random | None) -> dict[str, str]:
    """``tags`` with each name in a casing drawn from ``casing`` (``None``: as given)."""
    if casing is None:
        return dict(tags)
    out = {}
    for name, value in tags.items():
        mixed = "".join(c.upper() if casing.random() < 0.5 else c.lower() for c in name)
        out[casing.choice((name, name.lower(), name.upper(), mixed, *TAG_SPELLINGS.get(name, ())))] = value
    return out


@dataclass
class CycleCloudCluster:
    """Ids of what :meth:`ArmSimulator.add_cyclecloud_cluster` created."""

    name: str
    resource_group: str
    location: str
    scheduler_vm_id: str
    vmss_ids: dict[str, str]
    orchestration: dict[str, str]


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


#: the list calls Compute's "HighCostGet" policies throttle
COMPUTE_LIST_OPERATIONS = (
    "VirtualMachines_List", "VirtualMachines_ListAll", "VirtualMachineScaleSets_List",
    "VirtualMachineScaleSets_ListAll", "VirtualMachineScaleSetVMs_List",
)


class ComputeMixin:
    def throttle_compute(
        self, times: int = 1, retry_after: float = 5, *, operations: tuple[str, ...] = COMPUTE_LIST_OPERATIONS,
        policy: str = "HighCostGet3Min",
    ) -> Fault:
        """Compute's own throttling, not ARM's: the next ``times`` of ``operations`` get 429
        ``OperationNotAllowed`` with ``Retry-After`` and ``x-ms-ratelimit-remaining-resource:
        Microsoft.Compute/<policy>;0``, the body and headers Compute sends (learn.microsoft.com
        troubleshoot/azure/virtual-machines/troubleshooting-throttling-errors)."""
        group = {"operationGroup": policy, "allowedRequestCount": 0}
        return self._add_fault(Fault(
            operations, 429, times, retry_after, "OperationNotAllowed",
            "The server rejected the request because too many requests have been received for this subscription.",
            headers={"x-ms-ratelimit-remaining-resource": f"Microsoft.Compute/{policy};0"},
            details=[{"code": "TooManyRequests", "target": policy, "message": json.dumps(group)}],
        ))

    def _provider_routes(self):
        sub = r"/subscriptions/(?P<sub>[^/]+)"
        cmp = sub + r"/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Compute"
        scmp = sub + r"/providers/Microsoft\.Compute"
        return super()._provider_routes() + [
            (cmp + r"/virtualMachines/(?P<name>[^/]+)$", {"GET": ("VirtualMachines_Get", self._compute_get(T_VM))}),
            (cmp + r"/virtualMachines$", {"GET": ("VirtualMachines_List", self._vm_list)}),
            (cmp + r"/virtualMachines/(?P<name>[^/]+)/extensions$", {"GET": ("VirtualMachineExtensions_List", self._vm_extensions)}),
            (scmp + r"/virtualMachines$", {"GET": ("VirtualMachines_ListAll", self._list_sub(T_VM))}),
            (cmp + r"/virtualMachineScaleSets/(?P<vmss>[^/]+)/virtualMachines/(?P<iid>[^/]+)$",
             {"GET": ("VirtualMachineScaleSetVMs_Get", self._vmss_vm_get)}),
            (cmp + r"/virtualMachineScaleSets/(?P<vmss>[^/]+)/virtualMachines$",
             {"GET": ("VirtualMachineScaleSetVMs_List", self._vmss_vm_list)}),
            (cmp + r"/virtualMachineScaleSets/(?P<name>[^/]+)$",
             {"GET": ("VirtualMachineScaleSets_Get", self._compute_get(T_VMSS))}),
            (cmp + r"/virtualMachineScaleSets$", {"GET": ("VirtualMachineScaleSets_List", self._list_rg(T_VMSS))}),
            (scmp + r"/virtualMachineScaleSets$", {"GET": ("VirtualMachineScaleSets_ListAll", self._list_sub(T_VMSS))}),
        ]

    def _setup(self) -> None:
        super()._setup()
        self._next_instance: dict[str, int] = {}
        self._tag_casing: dict[str, random.Random] = {}

    def _on_delete(self, lid: str, body: dict[str, Any]) -> None:
        super()._on_delete(lid, body)
        self._tag_casing.pop(lid, None)
        if body.get("type") == T_VM:  # a Flexible member leaving its scale set lowers capacity
            vmss = ((body.get("properties") or {}).get("virtualMachineScaleSet") or {}).get("id")
            owner = self._res.get(vmss.lower()) if vmss else None
            if owner is not None:
                owner["sku"]["capacity"] = max(0, owner["sku"]["capacity"] - 1)

    def _vm_body(
        self, rid: str, name: str, location: str, tags: dict[str, str], state: str,
        vmss_id: str | None = None, vm_size: str = "Standard_D4s_v5", computer_name: str | None = None,
    ) -> dict[str, Any]:
        # As big as a real one: a VM list's pages are the largest JSON a pass parses, so a lean body
        # would make the benchmarks' CPU figures kinder than Azure. The fields a CycleCloud node has
        # (Microsoft.Compute VirtualMachineProperties: image, managed OS disk, SSH key, NIC, boot
        # diagnostics), about 3 KB with its tags.
        group_path = rid.split("/providers/", 1)[0]
        props: dict[str, Any] = {
            "vmId": self._guid(),
            "hardwareProfile": {"vmSize": vm_size},
            "storageProfile": {
                "imageReference": {"publisher": "almalinux", "offer": "almalinux-hpc", "sku": "8_10-hpc-gen2",
                                   "version": "latest", "exactVersion": "8.10.2024111801"},
                "osDisk": {"osType": "Linux", "name": f"{name}_OsDisk", "createOption": "FromImage", "caching": "ReadWrite",
                           "managedDisk": {"storageAccountType": "Premium_LRS",
                                           "id": f"{group_path}/providers/Microsoft.Compute/disks/{name}_OsDisk"},
                           "deleteOption": "Delete", "diskSizeGB": 64},
                "dataDisks": [],
                "diskControllerType": "SCSI",
            },
            "osProfile": {
                "computerName": computer_name or name.replace("_", "-")[:63], "adminUsername": "cyclecloud",
                "linuxConfiguration": {
                    "disablePasswordAuthentication": True,
                    "ssh": {"publicKeys": [{"path": "/home/cyclecloud/.ssh/authorized_keys", "keyData": _SSH_KEY}]},
                    "provisionVMAgent": True,
                    "patchSettings": {"patchMode": "ImageDefault", "assessmentMode": "ImageDefault"},
                },
                "secrets": [], "allowExtensionOperations": True, "requireGuestProvisionSignal": True,
            },
            "networkProfile": {"networkInterfaces": [{
                "id": f"{group_path}/providers/Microsoft.Network/networkInterfaces/{name}-nic",
                "properties": {"primary": True, "deleteOption": "Delete"},
            }]},
            "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},
            "priority": "Regular",
            "provisioningState": state,
            "timeCreated": self._now(),
        }
        if vmss_id:
            props["virtualMachineScaleSet"] = {"id": vmss_id}
        return {
            "id": rid, "name": name, "type": T_VM, "location": location, "tags": dict(tags),
            "identity": {"type": "SystemAssigned", "principalId": self._guid(), "tenantId": self.tenant_id},
            "properties": props,
        }

    def add_vm(
        self, resource_group: str, name: str, location: str = "eastus", *, tags: dict[str, str] | None = None,
        vmss_id: str | None = None, provisioning_state: str = "Succeeded", vm_size: str = "Standard_D4s_v5",
    ) -> str:
        """Add a VM; with ``vmss_id`` of a Flexible scale set it becomes a member (capacity + 1)."""
        rid = self.resource_id(resource_group, T_VM, name)
        with self._lock:
            if self._lookup(rid) is not None:
                raise ValueError(f"VM {rid} already exists")
            owner = None
            if vmss_id is not None:
                owner = self._lookup(vmss_id)
                if owner is None or owner["properties"].get("orchestrationMode") != "Flexible":
                    raise ValueError("vmss_id must name an existing Flexible scale set")
                vmss_id = owner["id"]
            body = self._vm_body(rid, name, location, tags or {}, provisioning_state, vmss_id, vm_size)
            self._store(body)
            if owner is not None:
                owner["sku"]["capacity"] += 1
        return rid

    def delete_vm(self, vm_id: str) -> bool:
        """Delete a VM (or a Uniform instance); its DCR associations go with it."""
        return self.remove(vm_id)

    def add_vmss(
        self, resource_group: str, name: str, orchestration_mode: str = "Uniform", capacity: int = 0,
        location: str = "eastus", *, tags: dict[str, str] | None = None, vm_size: str = "Standard_HB120rs_v3",
        provisioning_state: str = "Succeeded", tag_casing: random.Random | None = None,
    ) -> str:
        """Add a scale set of ``capacity`` VMs/instances; with ``tag_casing`` it and each member
        (now and when scaled) get the tag names in a casing drawn from it."""
        if orchestration_mode not in ("Uniform", "Flexible"):
            raise ValueError("orchestration_mode must be Uniform or Flexible")
        rid = self.resource_id(resource_group, T_VMSS, name)
        props: dict[str, Any] = {
            "orchestrationMode": orchestration_mode,
            "provisioningState": "Succeeded",
            "uniqueId": self._guid(),
            "platformFaultDomainCount": 1,
            "singlePlacementGroup": False,
            "timeCreated": self._now(),
            "virtualMachineProfile": {
                "osProfile": {"computerNamePrefix": name[:9], "adminUsername": "cyclecloud"},
                "storageProfile": {"osDisk": {"osType": "Linux", "createOption": "FromImage"}},
            },
        }
        if orchestration_mode == "Uniform":
            # Manual, CycleCloud's and Azure's default: a model change waits for `update-instances`.
            props["upgradePolicy"] = {"mode": "Manual"}
            props["overprovision"] = False
        body = {
            "id": rid, "name": name, "type": T_VMSS, "location": location, "tags": recased(tags or {}, tag_casing),
            "sku": {"name": vm_size, "tier": "Standard", "capacity": 0},
            "identity": {"type": "SystemAssigned", "principalId": self._guid(), "tenantId": self.tenant_id},
            "properties": props,
        }
        with self._lock:
            if self._lookup(rid) is not None:
                raise ValueError(f"VMSS {rid} already exists")
            self._store(body)
            self._next_instance[rid.lower()] = 0
            if tag_casing is not None:
                self._tag_casing[rid.lower()] = tag_casing
        self.scale(rid, capacity, provisioning_state=provisioning_state)
        return rid

    def scale(self, vmss_id: str, count: int, *, provisioning_state: str = "Succeeded") -> list[str]:
        """Scale a VMSS to ``count``. Flexible: adds/removes member VMs (newest removed first);
        Uniform: adds/removes instances (highest instance id removed first, ids never reused).
        Returns the ids of the VMs/instances added."""
        added: list[str] = []
        with self._lock:
            vmss = self._lookup(vmss_id)
            if vmss is None or vmss["type"] != T_VMSS:
                raise KeyError(f"scale set {vmss_id} does not exist")
            vid, name = vmss["id"], vmss["name"]
            mode = vmss["properties"]["orchestrationMode"]
            rg = _rg_of(vid)
            tags = vmss.get("tags") or {}
            casing = self._tag_casing.get(vid.lower())
            members = self._flex_members(vid) if mode == "Flexible" else list(self._members(vid.lower() + "/virtualmachines"))
            current = len(members)
            while current < count:
                if mode == "Flexible":
                    vm_name = f"{name}_{self._rand.getrandbits(32):08x}"
                    rid = self.resource_id(rg, T_VM, vm_name)
                    member = self._vm_body(rid, vm_name, vmss["location"], recased(tags, casing), provisioning_state, vid,
                                           vmss["sku"]["name"])
                    member["identity"] = copy.deepcopy(vmss["identity"])
                    self._store(member)
                    for ext in self._model_extensions(vmss):  # a new VM is made from the model
                        self._store_vm_extension(member, ext["name"], ext["properties"])
                else:
                    iid = self._next_instance.get(vid.lower(), 0)
                    self._next_instance[vid.lower()] = iid + 1
                    rid = f"{vid}/virtualMachines/{iid}"
                    prefix = vmss["properties"]["virtualMachineProfile"]["osProfile"]["computerNamePrefix"]
                    self._store({
                        "id": rid, "name": f"{name}_{iid}", "type": T_VMSS_VM, "instanceId": str(iid),
                        "location": vmss["location"], "tags": recased(tags, casing),
                        "sku": {"name": vmss["sku"]["name"], "tier": "Standard"},
                        "identity": copy.deepcopy(vmss["identity"]),
                        "properties": {
                            "vmId": self._guid(), "latestModelApplied": True, "provisioningState": provisioning_state,
                            "osProfile": {"computerName": f"{prefix}{_base36(iid):0>6}", "adminUsername": "cyclecloud"},
                            "timeCreated": self._now(),
                        },
                    })
                added.append(rid)
                current += 1
            while current > count:
                victim = members.pop() if members else None
                if victim is None:
                    break
                self._delete(victim if isinstance(victim, str) else victim)
                current -= 1
            vmss["sku"]["capacity"] = count
        return added

    def _flex_members(self, vmss_id: str) -> list[str]:
        """Lowercased ids of a Flexible scale set's VMs, oldest first."""
        rg_coll = _collection_of(vmss_id.lower()).replace("/microsoft.compute/virtualmachinescalesets", "/microsoft.compute/virtualmachines")
        out = []
        for lid in self._members(rg_coll):
            vm = self._res[lid]
            owner = ((vm.get("properties") or {}).get("virtualMachineScaleSet") or {}).get("id")
            if owner and owner.lower() == vmss_id.lower():
                out.append(lid)
        return out

    def vmss_members(self, vmss_id: str) -> list[str]:
        """Ids (as created) of a scale set's VMs (Flexible) or instances (Uniform)."""
        with self._lock:
            vmss = self._lookup(vmss_id)
            if vmss is None:
                return []
            if vmss["properties"]["orchestrationMode"] == "Flexible":
                lids = self._flex_members(vmss["id"])
            else:
                lids = list(self._members(vmss["id"].lower() + "/virtualmachines"))
            return [self._res[lid]["id"] for lid in lids]

    def add_cyclecloud_cluster(
        self,
        resource_group: str,
        cluster_name: str,
        location: str = "eastus",
        nodearrays: dict[str, tuple[str, int]] | None = None,
        *,
        scheduler_name: str | None = None,
        node_state: str = "Succeeded",
        tag_case: str = "documented",
        tag_seed: int = 0,
        agent: bool = True,
    ) -> CycleCloudCluster:
        """A CycleCloud Slurm cluster: a scheduler VM plus one scale set per nodearray.

        ``nodearrays`` maps nodearray name (any: CycleCloud's Slurm template also has ``login``
        and ``scheduler-ha`` besides compute arrays) to ``(orchestration_mode, count)``. Names:
        scheduler VM ``<cluster>-scheduler``, scale sets ``<cluster>-<nodearray>``. Tags: see
        module docstring; ``tag_case="random"`` spells each tag name of each VM and scale set in a
        casing drawn from ``random.Random(tag_seed)`` (Azure tag names are case-insensitive).
        With ``agent`` every machine has the Azure Monitor Agent, applied, and a system-assigned identity.
        """
        if tag_case not in ("documented", "random"):
            raise ValueError("tag_case must be 'documented' or 'random'")
        casing = random.Random(tag_seed) if tag_case == "random" else None
        nodearrays = {"hpc": ("Uniform", 2)} if nodearrays is None else nodearrays
        self.add_resource_group(resource_group, location)
        site = f"/sites/{CYCLECLOUD_SITE}/clusters/{cluster_name}"
        common = {
            "ClusterName": cluster_name,
            "CycleCloudCluster": site,
            "CycleOwner": f"{cluster_name}(admin@cyclecloud:{CYCLECLOUD_SITE})",
            "LaunchTime": "2026-01-01T00:00:00Z",
        }
        sched = self.add_vm(
            resource_group, scheduler_name or f"{cluster_name}-scheduler", location,
            tags=recased({**common, "Name": "scheduler"}, casing), vm_size="Standard_D4s_v5",
        )
        vmss_ids: dict[str, str] = {}
        modes: dict[str, str] = {}
        for na, (mode, count) in nodearrays.items():
            vmss_ids[na] = self.add_vmss(
                resource_group, f"{cluster_name}-{na}", mode, count, location,
                tags={**common, "CycleCloudNodeArray": f"{site}/nodearrays/{na}"}, provisioning_state=node_state,
                tag_casing=casing,
            )
            modes[na] = mode
        for machine in (sched, *vmss_ids.values()) if agent else ():
            self.install_agent(machine, upgrade_instances=True)
        return CycleCloudCluster(cluster_name, resource_group, location, sched, vmss_ids, modes)

    def _compute_get(self, rtype: str):
        def handler(ctx: "_Ctx") -> SimResponse:
            rg = self._require_rg(ctx)
            name = ctx.params["name"]
            return SimResponse(200, self._get_typed(self.resource_id(rg, rtype, name), rtype, name, rg))
        return handler

    def _vmss_of(self, ctx: "_Ctx") -> dict[str, Any]:
        rg = self._require_rg(ctx)
        name = ctx.params["vmss"]
        return self._get_typed(self.resource_id(rg, T_VMSS, name), T_VMSS, name, rg)

    def _vmss_vm_list(self, ctx: "_Ctx") -> SimResponse:
        vmss = self._vmss_of(ctx)
        if vmss["properties"].get("orchestrationMode") == "Flexible":
            raise ArmError(400, "BadRequest",
                           f"Operation 'VirtualMachineScaleSets.virtualMachines.GET' is not allowed on Virtual Machine "
                           f"Scale Set '{vmss['name']}' with Flexible orchestration mode. List the virtual machines "
                           f"of the resource group and filter on properties.virtualMachineScaleSet.id instead.")
        return self._page(ctx, iter(self._members(vmss["id"].lower() + "/virtualmachines")))

    def _vmss_vm_get(self, ctx: "_Ctx") -> SimResponse:
        vmss = self._vmss_of(ctx)
        iid = ctx.params["iid"]
        body = self._res.get(f"{vmss['id']}/virtualMachines/{iid}".lower())
        if body is None:
            raise not_found(T_VMSS_VM, f"{vmss['name']}/{iid}", _rg_of(vmss["id"]))
        return SimResponse(200, body)

    # --- the Azure Monitor Agent and identities: what `doctor` checks ---
    @staticmethod
    def _model_extensions(vmss: dict[str, Any]) -> list[dict[str, Any]]:
        return ((vmss["properties"]["virtualMachineProfile"].get("extensionProfile") or {}).get("extensions")) or []

    def _store_vm_extension(self, vm: dict[str, Any], name: str, props: dict[str, Any]) -> None:
        """An extension is a child resource of its VM; the VM (and the VM list) carries only its
        id in ``resources`` (Azure/azure-sdk-for-python#2165, Azure/azure-sdk-for-net#13378)."""
        eid = f"{vm['id']}/extensions/{name}"
        self._store({"id": eid, "name": name, "type": T_VM_EXT, "location": vm["location"], "properties": copy.deepcopy(props)})
        vm["resources"] = [r for r in vm.get("resources", []) if r["id"].lower() != eid.lower()] + [{"id": eid}]

    def install_agent(
        self, resource_id: str, *, identifier: tuple[str, str] | None = None, provisioning_state: str = "Succeeded",
        upgrade_instances: bool = False, name: str = "AzureMonitorLinuxAgent",
    ) -> None:
        """The Azure Monitor Agent extension on a VM, or in a scale set's model. With the model,
        existing Uniform instances lag it (``latestModelApplied: false``, the Manual upgrade
        policy) and existing Flexible members lack it, unless ``upgrade_instances`` (as ``az
        vmss update-instances`` would). ``identifier``: the settings'
        ``authentication.managedIdentity`` ``(identifier-name, identifier-value)``."""
        props: dict[str, Any] = {
            "publisher": "Microsoft.Azure.Monitor", "type": "AzureMonitorLinuxAgent", "typeHandlerVersion": "1.33",
            "autoUpgradeMinorVersion": True, "provisioningState": provisioning_state,
        }
        if identifier:
            props["settings"] = {"authentication": {"managedIdentity": {
                "identifier-name": identifier[0], "identifier-value": identifier[1]}}}
        with self._lock:
            body = self._lookup(resource_id)
            if body is None or body["type"] not in (T_VM, T_VMSS):
                raise KeyError(f"no VM or scale set {resource_id}")
            if body["type"] == T_VM:
                self._store_vm_extension(body, name, props)
                return
            profile = body["properties"]["virtualMachineProfile"]
            extensions = [e for e in self._model_extensions(body) if e["name"] != name] + [{"name": name, "properties": props}]
            profile["extensionProfile"] = {"extensions": extensions}
            if body["properties"]["orchestrationMode"] == "Flexible":
                for lid in self._flex_members(body["id"]) if upgrade_instances else ():
                    self._store_vm_extension(self._res[lid], name, props)
            else:
                for lid in self._members(body["id"].lower() + "/virtualmachines"):
                    self._res[lid]["properties"]["latestModelApplied"] = upgrade_instances

    def set_identity(self, resource_id: str, *, system_assigned: bool = True, user_assigned: tuple[str, ...] = ()) -> list[dict[str, str]]:
        """A VM's or scale set's managed identities (a scale set's members and instances get the
        same). ``user_assigned``: identity names, made up in the machine's resource group.
        Returns each user-assigned identity as ``{"id", "clientId", "principalId"}``."""
        with self._lock:
            body = self._lookup(resource_id)
            if body is None:
                raise KeyError(resource_id)
            users = {
                f"/subscriptions/{self.subscription_id}/resourceGroups/{_rg_of(body['id'])}/providers/"
                f"Microsoft.ManagedIdentity/userAssignedIdentities/{n}": {"principalId": self._guid(), "clientId": self._guid()}
                for n in user_assigned
            }
            kind = ", ".join(k for k, on in (("SystemAssigned", system_assigned), ("UserAssigned", bool(users))) if on) or "None"
            identity: dict[str, Any] = {"type": kind, "tenantId": self.tenant_id}
            if system_assigned:
                identity["principalId"] = self._guid()
            if users:
                identity["userAssignedIdentities"] = users
            targets = [body]
            if body["type"] == T_VMSS:
                lids = (self._flex_members(body["id"]) if body["properties"]["orchestrationMode"] == "Flexible"
                        else self._members(body["id"].lower() + "/virtualmachines"))
                targets += [self._res[lid] for lid in lids]
            for target in targets:
                target["identity"] = copy.deepcopy(identity)
            return [{"id": i, **u} for i, u in users.items()]

    _SCALE_SET_FILTER = re.compile(r"^'?virtualMachineScaleSet/id'?\s+eq\s+'?([^']+)'?$", re.IGNORECASE)

    def _vm_list(self, ctx: "_Ctx") -> SimResponse:
        """VirtualMachines_List: ``$filter`` takes only ``'virtualMachineScaleSet/id' eq '<id>'``
        and ``$expand=instanceView`` only with it (the spec's parameter descriptions,
        azure-rest-api-specs ComputeRP virtualMachine.json)."""
        rg = self._require_rg(ctx)
        query, expand = ctx.query.get("$filter"), ctx.query.get("$expand")
        if expand and expand != "instanceView":
            raise ArmError(400, "InvalidParameter", f"The value '{expand}' of parameter '$expand' is not allowed.")
        if expand and not query:
            raise ArmError(400, "InvalidParameter", "The $expand=instanceView option requires a $filter on virtualMachineScaleSet/id.")
        lids = iter(self._members(f"{self.rg_id(rg)}/providers/{T_VM}"))
        if query:
            match = self._SCALE_SET_FILTER.match(query.strip())
            if not match:
                raise ArmError(400, "InvalidParameter", f"The value of parameter '$filter' is invalid: {query}")
            owner = match.group(1).lower()
            lids = (lid for lid in lids
                    if (((self._res[lid].get("properties") or {}).get("virtualMachineScaleSet") or {}).get("id") or "").lower() == owner)
        response = self._page(ctx, lids)
        if query and "nextLink" in response.body:
            response.body["nextLink"] += "&" + urlencode({k: v for k, v in (("$filter", query), ("$expand", expand)) if v})
        if expand:
            response.body["value"] = [self._with_instance_view(vm) for vm in response.body["value"]]
        return response

    def _extensions_of(self, vm: dict[str, Any]) -> list[dict[str, Any]]:
        return [self._res[lid] for lid in self._members(vm["id"].lower() + "/extensions")]

    def _with_instance_view(self, vm: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(vm)
        out["properties"]["instanceView"] = {"extensions": [
            {"name": e["name"], "type": f"{e['properties']['publisher']}.{e['properties']['type']}",
             "typeHandlerVersion": e["properties"].get("typeHandlerVersion", ""),
             "statuses": [{"code": f"ProvisioningState/{e['properties']['provisioningState'].lower()}", "level": "Info"}]}
            for e in self._extensions_of(vm)
        ]}
        return out

    def _vm_extensions(self, ctx: "_Ctx") -> SimResponse:
        """VirtualMachineExtensions_List: the whole list in one answer (no nextLink in its schema)."""
        rg = self._require_rg(ctx)
        vm = self._get_typed(self.resource_id(rg, T_VM, ctx.params["name"]), T_VM, ctx.params["name"], rg)
        return SimResponse(200, {"value": self._extensions_of(vm)})
