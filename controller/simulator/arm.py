"""A stateful simulator of the Azure Resource Manager endpoints the controller uses.

It answers the REST calls the real ``azure-mgmt-monitor`` (DCRs, DCR associations),
``azure-mgmt-loganalytics`` (workspaces, tables) and ``azure-mgmt-compute`` (VMs, scale sets)
clients make, with Azure's status codes, long-running-operation protocol, paging and error
shapes. :meth:`ArmSimulator.serve` puts it behind HTTPS (see :mod:`.server`).

State is kept in memory, keyed by the lowercased ARM id (ARM ids are case-insensitive) and
indexed by collection (the id without its last segment), so lists and cascading deletes never
scan every resource.

CycleCloud's tags (learn.microsoft.com/azure/cyclecloud/how-to/tag-nodes, v8.2 onwards), as
:meth:`ArmSimulator.add_cyclecloud_cluster` sets them:

* every VM and VMSS of a cluster: ``ClusterName: <cluster>``, ``CycleCloudCluster:
  /sites/<site>/clusters/<cluster>``, ``CycleOwner``, ``LaunchTime``
* node scale sets and their VMs/instances: ``CycleCloudNodeArray:
  /sites/<site>/clusters/<cluster>/nodearrays/<nodearray>``
* head nodes (the scheduler VM): ``Name: scheduler``
"""

from __future__ import annotations

CYCLECLOUD_SITE = "0a1b2c3d"  # a made-up CycleCloud site id

import copy
import datetime as _dt
import itertools
import json
import random
import re
import secrets
import threading
import time
import traceback
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs, quote, unquote, urlsplit

from .errors import ArmError, invalid_payload, not_found
from ..ratelimit import TokenBucket
from .throttle import DEFAULT_FAULT_CODES, Fault
from .validation import ASSOCIATION_NAME_RE, DCR_NAME_RE, RESOURCE_GROUP_RE, validate_dcr, validate_table, validate_tags

DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
DEFAULT_TENANT = "72f988bf-0000-0000-0000-000000000000"
IDENTITY_PATH = "/msi/token"

T_VM = "Microsoft.Compute/virtualMachines"
T_VMSS = "Microsoft.Compute/virtualMachineScaleSets"
T_VMSS_VM = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines"
T_WS = "Microsoft.OperationalInsights/workspaces"
T_TABLE = "Microsoft.OperationalInsights/workspaces/tables"
T_DCR = "Microsoft.Insights/dataCollectionRules"
T_DCRA = "Microsoft.Insights/dataCollectionRuleAssociations"

#: short names accepted by :meth:`ArmSimulator.list`
KINDS = {
    "vm": T_VM, "vms": T_VM,
    "vmss": T_VMSS,
    "instance": T_VMSS_VM, "instances": T_VMSS_VM,
    "workspace": T_WS, "workspaces": T_WS,
    "table": T_TABLE, "tables": T_TABLE,
    "dcr": T_DCR, "dcrs": T_DCR,
    "association": T_DCRA, "associations": T_DCRA, "dcra": T_DCRA,
    # the last segment of the ARM type works too
    "virtualmachines": T_VM, "virtualmachinescalesets": T_VMSS, "datacollectionrules": T_DCR,
    "datacollectionruleassociations": T_DCRA,
}

_DCRA_SEG = "/providers/microsoft.insights/datacollectionruleassociations/"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _collection_of(lid: str) -> str:
    return lid.rsplit("/", 1)[0]


def _parent_of_collection(coll: str) -> str:
    parent = coll.rsplit("/", 1)[0]
    segs = parent.rsplit("/", 2)
    if len(segs) == 3 and segs[1] == "providers":
        parent = segs[0]
    return parent


def _type_from_id(rid: str) -> str:
    """ARM resource type of an id (``Microsoft.Compute/virtualMachines``, child types joined)."""
    low = rid.lower()
    i = low.rfind("/providers/")
    rest = rid[i + len("/providers/"):].split("/")
    ns, pairs = rest[0], rest[1:]
    types = pairs[0::2]
    return "/".join([ns] + types)


def _rg_of(rid: str) -> str | None:
    m = re.match(r"^/subscriptions/[^/]+/resourceGroups/([^/]+)", rid, re.I)
    return m.group(1) if m else None


@dataclass
class SimRequest:
    """What hooks receive: one HTTP request, already routed."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    operation: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class SimResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    #: the JSON-encoded body, filled while the state lock is held (stored dicts may change later)
    payload: bytes | None = None

    def encode(self) -> bytes:
        if self.payload is None:
            self.payload = b"" if self.body is None else json.dumps(self.body, separators=(",", ":")).encode()
        return self.payload


@dataclass
class CycleCloudCluster:
    """Ids of what :meth:`ArmSimulator.add_cyclecloud_cluster` created."""

    name: str
    resource_group: str
    location: str
    scheduler_vm_id: str
    vmss_ids: dict[str, str]
    orchestration: dict[str, str]


@dataclass
class _AsyncOp:
    id: str
    kind: str  # "put" | "delete"
    target: str  # lowercased resource id
    remaining: int
    started: str
    status: str = "InProgress"
    ended: str | None = None


class ArmSimulator:
    """In-memory Azure Resource Manager for one subscription.

    Parameters
    ----------
    subscription_id, tenant_id:
        the single subscription served; requests naming another get 404 SubscriptionNotFound.
    page_size:
        items per page of every paged list (``nextLink`` carries ``$skiptoken``).
    lro_polls:
        how many operation-status polls answer ``InProgress`` before ``Succeeded`` (table PUT,
        PATCH and DELETE are long-running). Change at any time via ``sim.lro_polls``.
    lro_retry_after:
        seconds the operation-status response asks the poller to wait (sub-second values are sent
        as ``retry-after-ms``, see :meth:`_retry_after_headers`).
    seed:
        seeds the generator of GUIDs and VM name suffixes, so runs are reproducible.
    """

    def __init__(
        self,
        subscription_id: str = DEFAULT_SUBSCRIPTION,
        page_size: int = 100,
        *,
        tenant_id: str = DEFAULT_TENANT,
        lro_polls: int = 1,
        lro_retry_after: float = 0.01,
        seed: int | None = 0,
    ) -> None:
        self.subscription_id = subscription_id
        self.tenant_id = tenant_id
        self.page_size = int(page_size)
        self.lro_polls = int(lro_polls)
        self.lro_retry_after = float(lro_retry_after)
        self._rand = random.Random(seed)
        self._lock = threading.RLock()
        self._res: dict[str, dict[str, Any]] = {}
        self._coll: dict[str, dict[str, None]] = {}
        self._children: dict[str, set[str]] = {}
        self._by_rule: dict[str, dict[str, None]] = {}
        self._rgs: dict[str, str] = {}
        self._ops: dict[str, _AsyncOp] = {}
        self._next_instance: dict[str, int] = {}
        self._tokens: dict[str, float] = {}
        self.identity_header = secrets.token_hex(16)
        # accounting
        self.calls: Counter[str] = Counter()
        self.responses: Counter[tuple[str, int]] = Counter()
        self.throttled: Counter[str] = Counter()
        self.token_requests = 0
        self.unauthenticated = 0
        self._writes = 0
        self._reads = 0
        self._count_lock = threading.Lock()
        # faults / latency / throttling / hooks
        self._faults: list[Fault] = []
        self._hangs_released = threading.Event()
        self._latency = (0.0, 0.0)
        self._buckets: dict[str, TokenBucket] | None = None
        self._hooks: dict[str, list[Callable[[SimRequest], Any]]] = {}
        self._routes = self._build_routes()

    # =========================================================================================
    # ids, GUIDs
    # =========================================================================================
    def _guid(self) -> str:
        return str(uuid.UUID(int=self._rand.getrandbits(128), version=4))

    def _etag(self) -> str:
        return f'"{self._guid()}"'

    def rg_id(self, resource_group: str) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{resource_group}"

    def resource_id(self, resource_group: str, rtype: str, name: str) -> str:
        return f"{self.rg_id(resource_group)}/providers/{rtype}/{name}"

    def add_resource_group(self, name: str, location: str = "eastus") -> str:
        with self._lock:
            self._rgs.setdefault(name.lower(), name)
        return self.rg_id(name)

    # =========================================================================================
    # storage primitives (callers hold the lock)
    # =========================================================================================
    def _colls_for(self, lid: str) -> list[str]:
        colls = [_collection_of(lid)]
        m = re.match(r"^(/subscriptions/[^/]+)/resourcegroups/[^/]+(/providers/[^/]+/[^/]+)/[^/]+$", lid)
        if m:  # top-level resource: also listed at subscription scope
            colls.append(m.group(1) + m.group(2))
        return colls

    def _store(self, body: dict[str, Any]) -> dict[str, Any]:
        lid = body["id"].lower()
        new = lid not in self._res
        self._res[lid] = body
        if new:
            for coll in self._colls_for(lid):
                self._coll.setdefault(coll, {})[lid] = None
                self._children.setdefault(_parent_of_collection(coll), set()).add(coll)
            rg = _rg_of(body["id"])
            if rg:
                self._rgs.setdefault(rg.lower(), rg)
        if body.get("type") == T_DCRA:
            rule = ((body.get("properties") or {}).get("dataCollectionRuleId") or "").lower()
            old_rule = body.pop("_rule", None)
            if old_rule is not None and old_rule != rule:
                self._by_rule.get(old_rule, {}).pop(lid, None)
            if rule:
                self._by_rule.setdefault(rule, {})[lid] = None
        return body

    def _delete(self, lid: str) -> dict[str, Any] | None:
        body = self._res.pop(lid, None)
        if body is None:
            return None
        for coll in self._colls_for(lid):
            members = self._coll.get(coll)
            if members is not None:
                members.pop(lid, None)
                if not members:
                    del self._coll[coll]
        if body.get("type") == T_DCRA:
            rule = ((body.get("properties") or {}).get("dataCollectionRuleId") or "").lower()
            self._by_rule.get(rule, {}).pop(lid, None)
        for coll in self._children.pop(lid, set()):
            for child in list(self._coll.get(coll, {})):
                self._delete(child)
        if body.get("type") == T_VM:  # a Flexible member leaving its scale set lowers capacity
            vmss = ((body.get("properties") or {}).get("virtualMachineScaleSet") or {}).get("id")
            owner = self._res.get(vmss.lower()) if vmss else None
            if owner is not None:
                owner["sku"]["capacity"] = max(0, owner["sku"]["capacity"] - 1)
        return body

    def _members(self, coll: str) -> dict[str, None]:
        return self._coll.get(coll.lower(), {})

    def _lookup(self, rid: Any) -> dict[str, Any] | None:
        if not isinstance(rid, str) or not rid:
            return None
        return self._res.get(rid.lower().rstrip("/"))

    def _workspace_tables(self, ws_id: str) -> dict[str, dict]:
        coll = ws_id.lower() + "/tables"
        return {lid.rsplit("/", 1)[1]: self._res[lid] for lid in self._members(coll)}

    # =========================================================================================
    # test / bench API: no HTTP, not counted
    # =========================================================================================
    def get(self, resource_id: str) -> dict[str, Any] | None:
        """A deep copy of the stored resource, or ``None``."""
        with self._lock:
            body = self._lookup(resource_id)
            return copy.deepcopy(body) if body is not None else None

    def put(self, resource_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Store ``body`` at ``resource_id`` as is (no validation, no HTTP, not counted): ``id``,
        ``name`` and ``type`` are set from ``resource_id``, so a copy of another resource's body
        can be stored under a new id."""
        body = copy.deepcopy(body)
        resource_id = resource_id.rstrip("/")
        rtype = _type_from_id(resource_id)
        body["id"] = resource_id
        body["type"] = rtype
        if rtype != T_VMSS_VM or "name" not in body:
            body["name"] = resource_id.rsplit("/", 1)[1]
        with self._lock:
            old = self._lookup(resource_id)
            if old is not None and old.get("type") == T_DCRA:
                body["_rule"] = ((old.get("properties") or {}).get("dataCollectionRuleId") or "").lower()
            self._store(body)
            return copy.deepcopy(body)

    def remove(self, resource_id: str) -> bool:
        """Delete a resource and everything under it (children, extension resources)."""
        with self._lock:
            return self._delete(resource_id.lower().rstrip("/")) is not None

    def list(self, prefix_or_kind: str | None = None) -> list[dict[str, Any]]:
        """Stored resources whose id starts with a prefix (``/subscriptions/...``), or of a kind
        (an ARM type like ``Microsoft.Compute/virtualMachines`` or a short name: vm, vmss,
        instance, workspace, table, dcr, association). ``None`` lists everything."""
        with self._lock:
            if prefix_or_kind is None:
                items = list(self._res.values())
            elif prefix_or_kind.startswith("/"):
                p = prefix_or_kind.lower()
                items = [b for lid, b in self._res.items() if lid.startswith(p)]
            else:
                t = KINDS.get(prefix_or_kind.lower(), prefix_or_kind).lower()
                items = [b for b in self._res.values() if b.get("type", "").lower() == t]
            return copy.deepcopy(items)

    # --- accounting --------------------------------------------------------------------------
    def writes(self) -> int:
        return self._writes

    def reads(self) -> int:
        return self._reads

    def reset_calls(self) -> None:
        with self._count_lock:
            self.calls.clear()
            self.responses.clear()
            self.throttled.clear()
            self._writes = self._reads = 0
            self.token_requests = 0
            self.unauthenticated = 0

    # --- faults, latency, throttling, hooks ---------------------------------------------------
    def inject(
        self,
        operation: str = "*",
        status: int = 500,
        times: int = 1,
        retry_after: float | None = None,
        code: str | None = None,
        message: str | None = None,
    ) -> Fault:
        """Answer the next ``times`` requests of ``operation`` (an operationId, or ``"*"``) with
        ``status`` and an Azure error body; ``times=-1`` means until :meth:`clear_faults`."""
        f = Fault(operation, status, times, retry_after, code, message)
        with self._count_lock:
            self._faults.append(f)
        return f

    def hang(self, operation: str = "*", seconds: float = 30.0, times: int = 1) -> Fault:
        """The next ``times`` requests of ``operation`` get no answer for ``seconds`` (a hung
        backend or proxy: the client's read timeout fires first), then are handled as usual;
        :meth:`clear_faults` lets them go at once."""
        f = Fault(operation, status=0, times=times, hang=seconds)
        with self._count_lock:
            self._faults.append(f)
        return f

    def clear_faults(self) -> None:
        with self._count_lock:
            self._faults.clear()
            released, self._hangs_released = self._hangs_released, threading.Event()
        released.set()

    def set_latency(self, read: float = 0.0, write: float = 0.0) -> None:
        """Seconds every read (GET) / write (PUT, PATCH, DELETE) waits before it is handled."""
        self._latency = (float(read), float(write))

    def emulate_arm_throttling(
        self,
        write_burst: float = 200,
        write_rate: float = 10,
        read_burst: float = 250,
        read_rate: float = 25,
        scale: float = 1.0,
    ) -> None:
        """Per-subscription token buckets like ARM's (writes and deletes share the write bucket).

        An empty bucket answers 429 ``SubscriptionRequestsThrottled`` with ``Retry-After`` (whole
        seconds, at least 1, as ARM sends) and is counted in ``sim.throttled[operation]``.
        ``scale`` stretches time: refill rates are divided by it, so ``scale=0.01`` refills
        100 times faster (bursts are unchanged), and sub-second waits are then announced with
        ``retry-after-ms``.
        """
        if scale <= 0:
            raise ValueError("scale must be > 0")
        self._throttle_scale = scale
        self._buckets = {
            "write": TokenBucket(write_burst, write_rate / scale),
            "read": TokenBucket(read_burst, read_rate / scale),
        }

    def stop_throttling(self) -> None:
        self._buckets = None

    def hook(self, operation: str, fn: Callable[[SimRequest], Any]) -> None:
        """Call ``fn(request)`` before ``operation`` (operationId or ``"*"``) is handled, outside
        the state lock. ``fn`` may mutate the simulator (e.g. delete the target VM: a race). If it
        returns a :class:`SimResponse` (or an ``(status, body)`` tuple) that is the answer."""
        self._hooks.setdefault(operation, []).append(fn)

    def clear_hooks(self) -> None:
        self._hooks.clear()

    # --- async operations ---------------------------------------------------------------------
    def complete_operations(self) -> int:
        """Finish every pending long-running operation now; returns how many."""
        with self._lock:
            pending = [op for op in self._ops.values() if op.status == "InProgress"]
            for op in pending:
                self._finish_op(op)
            return len(pending)

    def pending_operations(self) -> int:
        with self._lock:
            return sum(1 for op in self._ops.values() if op.status == "InProgress")

    # --- credential ---------------------------------------------------------------------------
    def issue_token(self, lifetime: int = 3600) -> tuple[str, int]:
        token = "sim." + secrets.token_urlsafe(24)
        expires = int(time.time()) + lifetime
        with self._count_lock:
            self._tokens[token] = expires
        return token, expires

    def credential(self) -> "SimCredential":
        """A TokenCredential that gets its tokens from this simulator (no HTTP)."""
        return SimCredential(self)

    def serve(self, host: str = "127.0.0.1", port: int = 0, **kwargs: Any):
        """Serve over HTTPS in background threads; use as a context manager. See :mod:`.server`."""
        from .server import SimServer

        return SimServer(self, host=host, port=port, **kwargs)

    # =========================================================================================
    # building the world: workspaces, VMs, scale sets, CycleCloud clusters
    # =========================================================================================
    def add_workspace(
        self, resource_group: str, name: str, location: str = "eastus", *, customer_id: str | None = None,
        retention_in_days: int = 30,
    ) -> str:
        rid = self.resource_id(resource_group, T_WS, name)
        body = {
            "id": rid, "name": name, "type": T_WS, "location": location, "tags": {},
            "properties": {
                "customerId": customer_id or self._guid(),
                "provisioningState": "Succeeded",
                "sku": {"name": "PerGB2018"},
                "retentionInDays": retention_in_days,
                "publicNetworkAccessForIngestion": "Enabled",
                "publicNetworkAccessForQuery": "Enabled",
                "createdDate": _now(),
            },
        }
        with self._lock:
            self._rgs.setdefault(resource_group.lower(), resource_group)
            self._store(body)
        return rid

    def add_table(
        self, workspace_id: str, name: str, columns: Iterable[tuple[str, str]] | None = None, *,
        provisioning_state: str = "Succeeded", plan: str = "Analytics", retention_in_days: int | None = None,
    ) -> str:
        """Create a table directly (no validation, no LRO). ``columns``: (name, type) pairs;
        defaults to the raw-log schema TimeGenerated/RawData/Computer/FilePath."""
        cols = list(columns or [("TimeGenerated", "dateTime"), ("RawData", "string"),
                                ("Computer", "string"), ("FilePath", "string")])
        with self._lock:
            ws = self._lookup(workspace_id)
            if ws is None:
                raise KeyError(f"workspace {workspace_id} does not exist")
            props = {"plan": plan, "schema": {"name": name, "columns": [{"name": c, "type": t} for c, t in cols]}}
            if retention_in_days is not None:
                props["retentionInDays"] = retention_in_days
            body = self._table_body(ws, name, props, None)
            body["properties"]["provisioningState"] = provisioning_state
            self._store(body)
            return body["id"]

    def _vm_body(
        self, rid: str, name: str, location: str, tags: dict[str, str], state: str,
        vmss_id: str | None = None, vm_size: str = "Standard_D4s_v5", computer_name: str | None = None,
    ) -> dict[str, Any]:
        props: dict[str, Any] = {
            "vmId": self._guid(),
            "hardwareProfile": {"vmSize": vm_size},
            "storageProfile": {"osDisk": {"osType": "Linux", "name": f"{name}_OsDisk", "createOption": "FromImage"}},
            "osProfile": {"computerName": computer_name or name.replace("_", "-")[:63], "adminUsername": "cyclecloud"},
            "provisioningState": state,
            "timeCreated": _now(),
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

    def set_provisioning_state(self, resource_id: str, state: str) -> None:
        with self._lock:
            body = self._lookup(resource_id)
            if body is None:
                raise KeyError(resource_id)
            body.setdefault("properties", {})["provisioningState"] = state

    def add_vmss(
        self, resource_group: str, name: str, orchestration_mode: str = "Uniform", capacity: int = 0,
        location: str = "eastus", *, tags: dict[str, str] | None = None, vm_size: str = "Standard_HB120rs_v3",
        provisioning_state: str = "Succeeded",
    ) -> str:
        if orchestration_mode not in ("Uniform", "Flexible"):
            raise ValueError("orchestration_mode must be Uniform or Flexible")
        rid = self.resource_id(resource_group, T_VMSS, name)
        props: dict[str, Any] = {
            "orchestrationMode": orchestration_mode,
            "provisioningState": "Succeeded",
            "uniqueId": self._guid(),
            "platformFaultDomainCount": 1,
            "singlePlacementGroup": False,
            "timeCreated": _now(),
            "virtualMachineProfile": {
                "osProfile": {"computerNamePrefix": name[:9], "adminUsername": "cyclecloud"},
                "storageProfile": {"osDisk": {"osType": "Linux", "createOption": "FromImage"}},
            },
        }
        if orchestration_mode == "Uniform":
            props["upgradePolicy"] = {"mode": "Manual"}
            props["overprovision"] = False
        body = {
            "id": rid, "name": name, "type": T_VMSS, "location": location, "tags": dict(tags or {}),
            "sku": {"name": vm_size, "tier": "Standard", "capacity": 0},
            "identity": {"type": "SystemAssigned", "principalId": self._guid(), "tenantId": self.tenant_id},
            "properties": props,
        }
        with self._lock:
            if self._lookup(rid) is not None:
                raise ValueError(f"VMSS {rid} already exists")
            self._store(body)
            self._next_instance[rid.lower()] = 0
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
            members = self._flex_members(vid) if mode == "Flexible" else list(self._members(vid.lower() + "/virtualmachines"))
            current = len(members)
            while current < count:
                if mode == "Flexible":
                    vm_name = f"{name}_{self._rand.getrandbits(32):08x}"
                    rid = self.resource_id(rg, T_VM, vm_name)
                    self._store(self._vm_body(rid, vm_name, vmss["location"], tags, provisioning_state, vid,
                                              vmss["sku"]["name"]))
                else:
                    iid = self._next_instance.get(vid.lower(), 0)
                    self._next_instance[vid.lower()] = iid + 1
                    rid = f"{vid}/virtualMachines/{iid}"
                    prefix = vmss["properties"]["virtualMachineProfile"]["osProfile"]["computerNamePrefix"]
                    self._store({
                        "id": rid, "name": f"{name}_{iid}", "type": T_VMSS_VM, "instanceId": str(iid),
                        "location": vmss["location"], "tags": dict(tags),
                        "sku": {"name": vmss["sku"]["name"], "tier": "Standard"},
                        "properties": {
                            "vmId": self._guid(), "latestModelApplied": True, "provisioningState": provisioning_state,
                            "osProfile": {"computerName": f"{prefix}{_base36(iid):0>6}", "adminUsername": "cyclecloud"},
                            "timeCreated": _now(),
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
    ) -> CycleCloudCluster:
        """A CycleCloud Slurm cluster: a scheduler VM plus one scale set per nodearray.

        ``nodearrays`` maps nodearray name to ``(orchestration_mode, count)``. Names: scheduler VM
        ``<cluster>-scheduler``, scale sets ``<cluster>-<nodearray>``. Tags: see module docstring.
        """
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
            tags={**common, "Name": "scheduler"}, vm_size="Standard_D4s_v5",
        )
        vmss_ids: dict[str, str] = {}
        modes: dict[str, str] = {}
        for na, (mode, count) in nodearrays.items():
            vmss_ids[na] = self.add_vmss(
                resource_group, f"{cluster_name}-{na}", mode, count, location,
                tags={**common, "CycleCloudNodeArray": f"{site}/nodearrays/{na}"}, provisioning_state=node_state,
            )
            modes[na] = mode
        return CycleCloudCluster(cluster_name, resource_group, location, sched, vmss_ids, modes)

    # =========================================================================================
    # HTTP-level entry point (called by the server; usable directly in unit tests)
    # =========================================================================================
    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes, base_url: str) -> SimResponse:
        """Handle one request. ``target`` is the request-target (path + query)."""
        split = urlsplit(target)
        path = unquote(split.path).rstrip("/") or "/"
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        hdrs = {k.lower(): v for k, v in headers.items()}
        request_id = str(uuid.uuid4())
        try:
            if path.lower() == IDENTITY_PATH:
                resp = self._identity(method, query, hdrs)
            else:
                resp = self._arm(method, path, query, hdrs, body, base_url)
        except ArmError as e:
            resp = SimResponse(e.status, e.body(), dict(e.headers))
        except Exception as e:  # a simulator bug: answer like ARM would rather than drop the connection
            traceback.print_exc()
            resp = SimResponse(500, {"error": {"code": "InternalServerError", "message": f"Simulator error: {e!r}"}})
        resp.encode()
        resp.headers.setdefault("x-ms-request-id", request_id)
        resp.headers.setdefault("x-ms-correlation-request-id", request_id)
        return resp

    def _identity(self, method: str, query: dict[str, str], hdrs: dict[str, str]) -> SimResponse:
        """App Service style managed identity endpoint (IDENTITY_ENDPOINT / IDENTITY_HEADER)."""
        if hdrs.get("x-identity-header") != self.identity_header:
            return SimResponse(401, {"statusCode": 401, "message": "Unauthorized: X-IDENTITY-HEADER is missing or wrong."})
        resource = query.get("resource")
        if method != "GET" or not resource or query.get("api-version") is None:
            return SimResponse(400, {"statusCode": 400, "message": "resource and api-version are required."})
        token, expires = self.issue_token()
        with self._count_lock:
            self.token_requests += 1
        return SimResponse(200, {
            "access_token": token, "expires_on": str(expires), "resource": resource,
            "token_type": "Bearer", "client_id": "00000000-0000-0000-0000-00000000c11d",
        })

    def _authenticate(self, hdrs: dict[str, str]) -> None:
        auth = hdrs.get("authorization", "")
        challenge = {"WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/{}", '
                                         'error="invalid_token", error_description="The authentication failed."'.format(self.tenant_id)}
        if not auth:
            raise ArmError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.", headers=challenge)
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ArmError(401, "AuthenticationFailed",
                           "Authentication failed. The 'Authorization' header is not in a valid format: expected 'Bearer <token>'.",
                           headers=challenge)
        exp = self._tokens.get(token.strip())
        if exp is None:
            raise ArmError(401, "InvalidAuthenticationToken", "The access token is invalid.", headers=challenge)
        if exp < time.time():
            raise ArmError(401, "ExpiredAuthenticationToken", "The access token expiry UTC time is earlier than current UTC time.",
                           headers=challenge)

    def _arm(self, method: str, path: str, query: dict[str, str], hdrs: dict[str, str], raw: bytes, base_url: str) -> SimResponse:
        try:
            self._authenticate(hdrs)
        except ArmError:
            with self._count_lock:
                self.unauthenticated += 1
            raise
        if not query.get("api-version"):
            raise ArmError(400, "MissingApiVersionParameter",
                           "The api-version query parameter (?api-version=) is required for all requests.")
        op, handler, params = self._route(method, path)
        is_write = method in ("PUT", "PATCH", "DELETE", "POST")
        with self._count_lock:
            self.calls[op] += 1
            if is_write:
                self._writes += 1
            else:
                self._reads += 1
        resp = self._arm_counted(op, handler, params, method, path, query, hdrs, raw, base_url, is_write)
        with self._count_lock:
            self.responses[(op, resp.status)] += 1
        return resp

    def _arm_counted(self, op, handler, params, method, path, query, hdrs, raw, base_url, is_write) -> SimResponse:
        try:
            sub = params.get("sub")
            if sub is not None and sub.lower() != self.subscription_id.lower():
                raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
            ratelimit_headers = self._throttle(op, is_write)
            fault = self._take_fault(op)
            if fault is not None:
                return fault
            body: Any = None
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError as e:
                    raise ArmError(400, "InvalidRequestContent",
                                   f"The request content was invalid and could not be deserialized: {e}.") from None
            elif method in ("PUT", "PATCH"):
                raise ArmError(400, "InvalidRequestContent", "The request content was invalid: the body is missing.")
            hooks = self._hooks.get(op, []) + self._hooks.get("*", [])
            if hooks:
                req = SimRequest(method, path, query, hdrs, body, op, params)
                for fn in hooks:
                    r = fn(req)
                    if isinstance(r, SimResponse):
                        return r
                    if isinstance(r, tuple):
                        return SimResponse(r[0], r[1] if len(r) > 1 else None)
            delay = self._latency[1 if is_write else 0]
            if delay > 0:
                time.sleep(delay)
            ctx = _Ctx(method, path, query, body, base_url, params)
            with self._lock:
                resp = handler(ctx)
                resp.encode()
            resp.headers.update(ratelimit_headers)
            return resp
        except ArmError as e:
            return SimResponse(e.status, e.body(), dict(e.headers))

    def _throttle(self, op: str, is_write: bool) -> dict[str, str]:
        buckets = self._buckets
        if buckets is None:
            return {}
        kind = "write" if is_write else "read"
        ok, wait, remaining = buckets[kind].try_take()
        header = f"x-ms-ratelimit-remaining-subscription-{kind}s"
        if ok:
            return {header: str(remaining)}
        with self._count_lock:
            self.throttled[op] += 1
        raise ArmError(
            429, "SubscriptionRequestsThrottled",
            f"Number of '{kind}' requests for subscription '{self.subscription_id}' exceeded the limit. "
            f"Please try again after {max(1, int(wait + 0.999))} seconds.",
            headers={**self._retry_after_headers(wait, at_least_one=getattr(self, "_throttle_scale", 1.0) >= 1.0),
                     header: "0"},
        )

    def _retry_after_headers(self, seconds: float, at_least_one: bool = False) -> dict[str, str]:
        """ARM sends whole seconds in ``Retry-After``. A sub-second wait (only in time-compressed
        emulation) is sent as ``retry-after-ms`` instead, which azure-core also honours; a zero
        ``Retry-After`` would make azure-core fall back to its 30 s default polling interval."""
        if at_least_one or seconds >= 1:
            return {"Retry-After": str(max(1, int(seconds + 0.999)))}
        return {"retry-after-ms": str(max(1, int(seconds * 1000 + 0.999)))}

    def _take_fault(self, op: str) -> SimResponse | None:
        with self._count_lock:
            for f in self._faults:
                if f.matches(op):
                    if f.remaining > 0:
                        f.remaining -= 1
                    f.fired += 1
                    break
            else:
                return None
            released = self._hangs_released
        if f.hang is not None:
            released.wait(f.hang)
            return None
        code = f.code or DEFAULT_FAULT_CODES.get(f.status, "Error")
        message = f.message or f"Injected fault: {f.status} {code} for {op}."
        headers = {}
        if f.retry_after is not None:
            headers.update(self._retry_after_headers(f.retry_after))
        if f.status == 429:
            with self._count_lock:
                self.throttled[op] += 1
        return SimResponse(f.status, {"error": {"code": code, "message": message}}, headers)

    # =========================================================================================
    # routing
    # =========================================================================================
    def _build_routes(self):
        sub = r"/subscriptions/(?P<sub>[^/]+)"
        rg = sub + r"/resourceGroups/(?P<rg>[^/]+)"
        dcr = rg + r"/providers/Microsoft\.Insights/dataCollectionRules"
        ws = rg + r"/providers/Microsoft\.OperationalInsights/workspaces"
        cmp = rg + r"/providers/Microsoft\.Compute"
        scmp = sub + r"/providers/Microsoft\.Compute"
        opst = sub + r"/providers/Microsoft\.OperationalInsights/locations/(?P<loc>[^/]+)"
        table = [
            (r"^(?P<uri>/.+?)/providers/Microsoft\.Insights/dataCollectionRuleAssociations/(?P<name>[^/]+)$",
             {"GET": ("DataCollectionRuleAssociations_Get", self._dcra_get),
              "PUT": ("DataCollectionRuleAssociations_Create", self._dcra_put),
              "DELETE": ("DataCollectionRuleAssociations_Delete", self._dcra_delete)}),
            (r"^(?P<uri>/.+?)/providers/Microsoft\.Insights/dataCollectionRuleAssociations$",
             {"GET": ("DataCollectionRuleAssociations_ListByResource", self._dcra_list_by_resource)}),
            (dcr + r"/(?P<name>[^/]+)/associations$",
             {"GET": ("DataCollectionRuleAssociations_ListByRule", self._dcra_list_by_rule)}),
            (dcr + r"/(?P<name>[^/]+)$",
             {"GET": ("DataCollectionRules_Get", self._dcr_get),
              "PUT": ("DataCollectionRules_Create", self._dcr_put),
              "PATCH": ("DataCollectionRules_Update", self._dcr_patch),
              "DELETE": ("DataCollectionRules_Delete", self._dcr_delete)}),
            (dcr + r"$", {"GET": ("DataCollectionRules_ListByResourceGroup", self._list_rg(T_DCR))}),
            (sub + r"/providers/Microsoft\.Insights/dataCollectionRules$",
             {"GET": ("DataCollectionRules_ListBySubscription", self._list_sub(T_DCR))}),
            (ws + r"/(?P<ws>[^/]+)/tables/(?P<table>[^/]+)$",
             {"GET": ("Tables_Get", self._table_get),
              "PUT": ("Tables_CreateOrUpdate", self._table_put),
              "PATCH": ("Tables_Update", self._table_patch),
              "DELETE": ("Tables_Delete", self._table_delete)}),
            (ws + r"/(?P<ws>[^/]+)/tables$", {"GET": ("Tables_ListByWorkspace", self._table_list)}),
            (ws + r"/(?P<ws>[^/]+)$", {"GET": ("Workspaces_Get", self._ws_get)}),
            (ws + r"$", {"GET": ("Workspaces_ListByResourceGroup", self._list_rg(T_WS, paged=False))}),
            (sub + r"/providers/Microsoft\.OperationalInsights/workspaces$",
             {"GET": ("Workspaces_List", self._list_sub(T_WS, paged=False))}),
            (opst + r"/operationStatuses/(?P<op>[^/]+)$", {"GET": ("OperationStatuses_Get", self._op_status)}),
            (opst + r"/operationResults/(?P<op>[^/]+)$", {"GET": ("OperationResults_Get", self._op_result)}),
            (cmp + r"/virtualMachines/(?P<name>[^/]+)$", {"GET": ("VirtualMachines_Get", self._compute_get(T_VM))}),
            (cmp + r"/virtualMachines$", {"GET": ("VirtualMachines_List", self._list_rg(T_VM))}),
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
        return [(re.compile(p, re.I), methods) for p, methods in table]

    def _route(self, method: str, path: str):
        for rx, methods in self._routes:
            m = rx.match(path)
            if m is None:
                continue
            if method not in methods:
                raise ArmError(405, "MethodNotAllowed", f"The requested method '{method}' is not allowed for '{path}'.")
            op, fn = methods[method]
            return op, fn, {k: v for k, v in m.groupdict().items() if v is not None}
        raise ArmError(404, "InvalidResourceType", f"The resource type for '{path}' could not be found in the simulator.")

    # =========================================================================================
    # helpers for handlers (lock held)
    # =========================================================================================
    def _require_rg(self, ctx: "_Ctx") -> str:
        rg = ctx.params["rg"]
        if not RESOURCE_GROUP_RE.match(rg):
            raise ArmError(400, "InvalidParameter", f"Resource group name '{rg}' is invalid.")
        if rg.lower() not in self._rgs:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
        return self._rgs[rg.lower()]

    def _page(self, ctx: "_Ctx", lids: Iterable[str], paged: bool = True) -> SimResponse:
        if not paged:
            return SimResponse(200, {"value": [self._res[lid] for lid in lids]})
        try:
            start = int(ctx.query.get("$skiptoken") or 0)
        except ValueError:
            raise ArmError(400, "InvalidSkipToken", "The $skiptoken is invalid.") from None
        if start < 0:
            raise ArmError(400, "InvalidSkipToken", "The $skiptoken is invalid.")
        size = max(1, self.page_size)
        chunk = list(itertools.islice(lids, start, start + size + 1))
        more = len(chunk) > size
        body: dict[str, Any] = {"value": [self._res[lid] for lid in chunk[:size]]}
        if more:
            body["nextLink"] = (f"{ctx.base_url}{quote(ctx.path)}?api-version={quote(ctx.query['api-version'])}"
                                f"&$skiptoken={start + size}")
        return SimResponse(200, body)

    def _list_rg(self, rtype: str, paged: bool = True):
        def handler(ctx: "_Ctx") -> SimResponse:
            rg = self._require_rg(ctx)
            return self._page(ctx, iter(self._members(f"{self.rg_id(rg)}/providers/{rtype}")), paged)
        return handler

    def _list_sub(self, rtype: str, paged: bool = True):
        def handler(ctx: "_Ctx") -> SimResponse:
            return self._page(ctx, iter(self._members(f"/subscriptions/{self.subscription_id}/providers/{rtype}")), paged)
        return handler

    def _get_typed(self, rid: str, rtype: str, name: str, rg: str | None) -> dict[str, Any]:
        body = self._res.get(rid.lower())
        if body is None or body.get("type") != rtype:
            raise not_found(rtype, name, rg)
        return body

    # =========================================================================================
    # compute
    # =========================================================================================
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

    # =========================================================================================
    # workspaces and tables
    # =========================================================================================
    def _workspace(self, ctx: "_Ctx") -> dict[str, Any]:
        rg = self._require_rg(ctx)
        name = ctx.params["ws"]
        return self._get_typed(self.resource_id(rg, T_WS, name), T_WS, name, rg)

    def _ws_get(self, ctx: "_Ctx") -> SimResponse:
        return SimResponse(200, self._workspace(ctx))

    def _table_body(self, ws: dict[str, Any], name: str, props: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        oldp = (old or {}).get("properties") or {}
        ws_ret = ws["properties"].get("retentionInDays", 30)
        ret = props.get("retentionInDays", oldp.get("retentionInDays") if old else -1)
        ret_default = ret in (None, -1) or (old is not None and "retentionInDays" not in props and oldp.get("retentionInDaysAsDefault"))
        ret_val = ws_ret if ret in (None, -1) else ret
        total = props.get("totalRetentionInDays", oldp.get("totalRetentionInDays") if old else -1)
        total_default = total in (None, -1) or (old is not None and "totalRetentionInDays" not in props and oldp.get("totalRetentionInDaysAsDefault"))
        total_val = ret_val if total_default else total
        if total_val < ret_val:
            raise ArmError(400, "InvalidParameter",
                           f"totalRetentionInDays ({total_val}) cannot be less than retentionInDays ({ret_val}).")
        plan = props.get("plan", oldp.get("plan", "Analytics"))
        old_schema = oldp.get("schema") or {}
        schema_in = props.get("schema") or {}
        columns = schema_in.get("columns", old_schema.get("columns", []))
        custom = name.endswith("_CL")
        schema = {
            "name": name,
            "tableType": "CustomLog" if custom else "Microsoft",
            "tableSubType": "DataCollectionRuleBased" if custom else "Any",
            "columns": columns,
            "standardColumns": [{"name": "TenantId", "type": "guid", "isDefaultDisplay": False, "isHidden": False}],
            "solutions": ["LogManagement"],
            "source": "customer" if custom else "microsoft",
        }
        for k in ("description", "displayName"):
            if k in schema_in or k in old_schema:
                schema[k] = schema_in.get(k, old_schema.get(k))
        return {
            "id": f"{ws['id']}/tables/{name}" if old is None else old["id"],
            "name": name if old is None else old["name"],
            "type": T_TABLE,
            "properties": {
                "retentionInDays": ret_val,
                "totalRetentionInDays": total_val,
                "archiveRetentionInDays": total_val - ret_val,
                "plan": plan,
                "lastPlanModifiedDate": oldp.get("lastPlanModifiedDate") if oldp.get("plan") == plan else _now(),
                "schema": schema,
                "provisioningState": oldp.get("provisioningState", "Succeeded"),
                "retentionInDaysAsDefault": bool(ret_default),
                "totalRetentionInDaysAsDefault": bool(total_default),
            },
        }

    def _table_get(self, ctx: "_Ctx") -> SimResponse:
        ws = self._workspace(ctx)
        name = ctx.params["table"]
        body = self._res.get(f"{ws['id']}/tables/{name}".lower())
        if body is None:
            raise ArmError(404, "ResourceNotFound", f"The table '{name}' was not found in workspace '{ws['name']}'.")
        return SimResponse(200, body)

    def _table_list(self, ctx: "_Ctx") -> SimResponse:
        ws = self._workspace(ctx)
        # TablesListResult has no nextLink in the spec: the service returns every table at once.
        return self._page(ctx, iter(self._members(ws["id"].lower() + "/tables")), paged=False)

    def _table_write(self, ctx: "_Ctx", patch: bool) -> SimResponse:
        ws = self._workspace(ctx)
        name = ctx.params["table"]
        lid = f"{ws['id']}/tables/{name}".lower()
        old = self._res.get(lid)
        if old is not None and old["properties"].get("provisioningState") in ("Updating", "InProgress", "Deleting"):
            raise ArmError(409, "Conflict",
                           f"Another operation is in progress on table '{old['name']}'. Retry when it has completed.")
        if patch and old is None:
            raise ArmError(404, "ResourceNotFound", f"The table '{name}' was not found in workspace '{ws['name']}'.")
        props = validate_table(name, ctx.body, old)
        body = self._table_body(ws, name, props, old)
        body["properties"]["provisioningState"] = "Updating"
        self._store(body)
        return self._start_op(ctx, "put", lid, ws["location"])

    def _table_put(self, ctx: "_Ctx") -> SimResponse:
        return self._table_write(ctx, patch=False)

    def _table_patch(self, ctx: "_Ctx") -> SimResponse:
        return self._table_write(ctx, patch=True)

    def _table_delete(self, ctx: "_Ctx") -> SimResponse:
        ws = self._workspace(ctx)
        name = ctx.params["table"]
        lid = f"{ws['id']}/tables/{name}".lower()
        old = self._res.get(lid)
        if old is None:
            return SimResponse(204)
        if old["properties"].get("provisioningState") == "Deleting":
            raise ArmError(409, "Conflict", f"Table '{old['name']}' is already being deleted.")
        old["properties"]["provisioningState"] = "Deleting"
        return self._start_op(ctx, "delete", lid, ws["location"])

    def _op_url(self, ctx: "_Ctx", loc: str, kind: str, op_id: str) -> str:
        return (f"{ctx.base_url}/subscriptions/{self.subscription_id}/providers/Microsoft.OperationalInsights/"
                f"locations/{loc.replace(' ', '').lower()}/{kind}/{op_id}?api-version={quote(ctx.query['api-version'])}")

    def _start_op(self, ctx: "_Ctx", kind: str, lid: str, location: str) -> SimResponse:
        op_id = self._guid()
        self._ops[op_id] = _AsyncOp(op_id, kind, lid, self.lro_polls, _now())
        return SimResponse(202, None, {
            "Azure-AsyncOperation": self._op_url(ctx, location, "operationStatuses", op_id),
            "Location": self._op_url(ctx, location, "operationResults", op_id),
            "Retry-After": "0",
        })

    def _finish_op(self, op: _AsyncOp) -> None:
        op.status = "Succeeded"
        op.ended = _now()
        body = self._res.get(op.target)
        if body is None:
            return
        if op.kind == "put":
            body["properties"]["provisioningState"] = "Succeeded"
        else:
            self._delete(op.target)

    def _advance(self, ctx: "_Ctx") -> _AsyncOp:
        op = self._ops.get(ctx.params["op"].lower()) or self._ops.get(ctx.params["op"])
        if op is None:
            raise ArmError(404, "OperationNotFound", f"The operation '{ctx.params['op']}' was not found.")
        if op.status == "InProgress":
            if op.remaining > 0:
                op.remaining -= 1
            else:
                self._finish_op(op)
        return op

    def _op_status(self, ctx: "_Ctx") -> SimResponse:
        op = self._advance(ctx)
        body = {"id": ctx.path, "name": op.id, "status": op.status, "startTime": op.started}
        headers = {}
        if op.status == "InProgress":
            headers = self._retry_after_headers(self.lro_retry_after)
        else:
            body["endTime"] = op.ended
        return SimResponse(200, body, headers)

    def _op_result(self, ctx: "_Ctx") -> SimResponse:
        op = self._advance(ctx)
        if op.status == "InProgress":
            return SimResponse(202, None, {"Location": f"{ctx.base_url}{ctx.path}?api-version={ctx.query['api-version']}",
                                           **self._retry_after_headers(self.lro_retry_after)})
        body = self._res.get(op.target)
        if op.kind == "put" and body is not None:
            return SimResponse(200, body)
        return SimResponse(204)

    # =========================================================================================
    # data collection rules
    # =========================================================================================
    def _dcr_id(self, ctx: "_Ctx") -> tuple[str, str, str]:
        rg = self._require_rg(ctx)
        name = ctx.params["name"]
        return rg, name, self.resource_id(rg, T_DCR, name)

    def _dcr_get(self, ctx: "_Ctx") -> SimResponse:
        rg, name, rid = self._dcr_id(ctx)
        return SimResponse(200, self._get_typed(rid, T_DCR, name, rg))

    def _dcr_put(self, ctx: "_Ctx") -> SimResponse:
        rg, name, rid = self._dcr_id(ctx)
        if not DCR_NAME_RE.match(name):
            raise ArmError(400, "InvalidResourceName",
                           f"Resource name '{name}' is invalid: use 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit.")
        old = self._res.get(rid.lower())
        clean = validate_dcr(ctx.body, self._lookup, self._workspace_tables)
        if old is not None and old["location"].replace(" ", "").lower() != clean["location"].replace(" ", "").lower():
            raise ArmError(400, "InvalidResourceLocation",
                           f"The resource '{name}' already exists in location '{old['location']}' in resource group "
                           f"'{rg}'. A resource with the same name cannot be created in location '{clean['location']}'.")
        now = _now()
        props = clean["properties"]
        props["immutableId"] = old["properties"]["immutableId"] if old else "dcr-" + uuid.UUID(int=self._rand.getrandbits(128)).hex
        props["provisioningState"] = "Succeeded"
        body: dict[str, Any] = {
            "id": old["id"] if old else rid,
            "name": old["name"] if old else name,
            "type": T_DCR,
            "location": clean["location"],
        }
        if "kind" in clean:
            body["kind"] = clean["kind"]
        if "tags" in clean:
            body["tags"] = clean["tags"]
        if "identity" in clean:
            body["identity"] = clean["identity"]
        body["etag"] = self._etag()
        body["systemData"] = {
            "createdBy": "simulator", "createdByType": "Application",
            "createdAt": old["systemData"]["createdAt"] if old else now,
            "lastModifiedBy": "simulator", "lastModifiedByType": "Application", "lastModifiedAt": now,
        }
        body["properties"] = props
        self._store(body)
        return SimResponse(200 if old else 201, body)

    def _dcr_patch(self, ctx: "_Ctx") -> SimResponse:
        rg, name, rid = self._dcr_id(ctx)
        old = self._get_typed(rid, T_DCR, name, rg)
        if not isinstance(ctx.body, dict):
            raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized.")
        if "tags" in ctx.body:
            tags = validate_tags(ctx.body["tags"])
            old["tags"] = tags or {}
        if "identity" in ctx.body:
            old["identity"] = copy.deepcopy(ctx.body["identity"])
        old["etag"] = self._etag()
        old["systemData"]["lastModifiedAt"] = _now()
        return SimResponse(200, old)

    def _dcr_delete(self, ctx: "_Ctx") -> SimResponse:
        rg, name, rid = self._dcr_id(ctx)
        lid = rid.lower()
        if lid not in self._res:
            return SimResponse(204)
        if str(ctx.query.get("deleteAssociations", "")).lower() == "true":
            for alid in list(self._by_rule.get(lid, {})):
                self._delete(alid)
        self._delete(lid)
        return SimResponse(200)

    # =========================================================================================
    # data collection rule associations
    # =========================================================================================
    def _target(self, uri: str) -> dict[str, Any]:
        """The resource an association hangs off; 404 as ARM answers for a missing parent."""
        body = self._lookup(uri)
        if body is None:
            rtype = _type_from_id(uri) if "/providers/" in uri.lower() else "resource"
            raise not_found(rtype, uri.rstrip("/").rsplit("/", 1)[1], _rg_of(uri))
        return body

    def _assoc_lid(self, ctx: "_Ctx") -> str:
        return (ctx.params["uri"] + "/providers/Microsoft.Insights/dataCollectionRuleAssociations/" + ctx.params["name"]).lower()

    def _dcra_get(self, ctx: "_Ctx") -> SimResponse:
        self._target(ctx.params["uri"])
        body = self._res.get(self._assoc_lid(ctx))
        if body is None:
            raise ArmError(404, "ResourceNotFound",
                           f"Data collection rule association '{ctx.params['name']}' was not found on resource '{ctx.params['uri']}'.")
        return SimResponse(200, body)

    def _dcra_put(self, ctx: "_Ctx") -> SimResponse:
        uri, name = ctx.params["uri"], ctx.params["name"]
        if not ASSOCIATION_NAME_RE.match(name):
            raise ArmError(400, "InvalidResourceName", f"Association name '{name}' is invalid.")
        target = self._target(uri)
        ttype = target.get("type")
        if ttype == T_VMSS and target["properties"].get("orchestrationMode") == "Flexible":
            raise ArmError(400, "UnsupportedResourceForAssociation",
                           f"Data collection rule associations are not supported on virtual machine scale sets with "
                           f"Flexible orchestration mode ('{target['id']}'). Associate the data collection rule with "
                           f"the scale set's virtual machines instead.")
        if ttype == T_VMSS_VM:
            raise ArmError(400, "UnsupportedResourceForAssociation",
                           "Data collection rule associations are not supported on individual instances of a Uniform "
                           "virtual machine scale set. Associate the data collection rule with the scale set instead.")
        if not isinstance(ctx.body, dict):
            raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized.")
        props = ctx.body.get("properties") or {}
        if not isinstance(props, dict):
            raise ArmError(400, "InvalidRequestContent", "The request content was invalid: 'properties' must be an object.")
        rule_id = props.get("dataCollectionRuleId")
        dce_id = props.get("dataCollectionEndpointId")
        if not rule_id and not dce_id:
            raise invalid_payload("Either dataCollectionRuleId or dataCollectionEndpointId must be specified.")
        out_props: dict[str, Any] = {}
        if rule_id:
            rule = self._lookup(rule_id)
            if rule is None or rule.get("type") != T_DCR:
                raise invalid_payload(f"Data collection rule '{rule_id}' was not found or is not accessible.")
            out_props["dataCollectionRuleId"] = rule["id"]
        if dce_id:
            out_props["dataCollectionEndpointId"] = dce_id
        if props.get("description") is not None:
            out_props["description"] = props["description"]
        out_props["provisioningState"] = "Succeeded"
        lid = self._assoc_lid(ctx)
        old = self._res.get(lid)
        now = _now()
        body = {
            "id": old["id"] if old else f"{target['id']}/providers/Microsoft.Insights/dataCollectionRuleAssociations/{name}",
            "name": old["name"] if old else name,
            "type": T_DCRA,
            "etag": self._etag(),
            "systemData": {
                "createdBy": "simulator", "createdByType": "Application",
                "createdAt": old["systemData"]["createdAt"] if old else now,
                "lastModifiedBy": "simulator", "lastModifiedByType": "Application", "lastModifiedAt": now,
            },
            "properties": out_props,
        }
        if old is not None:
            body["_rule"] = ((old.get("properties") or {}).get("dataCollectionRuleId") or "").lower()
        self._store(body)
        return SimResponse(200 if old else 201, body)

    def _dcra_delete(self, ctx: "_Ctx") -> SimResponse:
        self._target(ctx.params["uri"])
        if self._delete(self._assoc_lid(ctx)) is None:
            return SimResponse(204)
        return SimResponse(200)

    def _dcra_list_by_resource(self, ctx: "_Ctx") -> SimResponse:
        target = self._target(ctx.params["uri"])
        return self._page(ctx, iter(self._members(target["id"].lower() + "/providers/microsoft.insights/datacollectionruleassociations")))

    def _dcra_list_by_rule(self, ctx: "_Ctx") -> SimResponse:
        rg, name, rid = self._dcr_id(ctx)
        self._get_typed(rid, T_DCR, name, rg)
        return self._page(ctx, iter(self._by_rule.get(rid.lower(), {})))


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


@dataclass
class _Ctx:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    base_url: str
    params: dict[str, str]


class SimCredential:
    """``azure.core.credentials.TokenCredential`` backed by :meth:`ArmSimulator.issue_token`."""

    def __init__(self, sim: ArmSimulator) -> None:
        self._sim = sim

    def get_token(self, *scopes: str, claims: str | None = None, tenant_id: str | None = None, **kwargs: Any):
        from azure.core.credentials import AccessToken

        token, expires = self._sim.issue_token()
        return AccessToken(token, expires)

    def get_token_info(self, *scopes: str, options: Any = None):
        from azure.core.credentials import AccessTokenInfo

        token, expires = self._sim.issue_token()
        return AccessTokenInfo(token, expires)

    def close(self) -> None:
        pass

    def __enter__(self) -> "SimCredential":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass
