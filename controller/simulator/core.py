"""The store, request routing, paging and counting shared by every simulated provider.

State is kept in memory, keyed by the lowercased ARM id (ARM ids are case-insensitive) and
indexed by collection (the id without its last segment), so lists and cascading deletes never
scan every resource. A provider module (``compute``, ``insights``, ``operationalinsights``) adds
its routes (:meth:`SimulatorCore._provider_routes`), its state (``_setup``) and its indexes
(``_on_store`` / ``_on_delete``).
"""

from __future__ import annotations

import copy
import datetime as _dt
import itertools
import json
import random
import re
import threading
import time
import traceback
import uuid
from collections import Counter
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs, quote, unquote, urlsplit

from .errors import ArmError, not_found
from .identity import IDENTITY_PATH
from .logs import LOGS_PATH_PREFIX
from .messages import SimRequest, SimResponse, _Ctx
from .resources import KINDS, T_VMSS_VM
from .validation import RESOURCE_GROUP_RE

DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
DEFAULT_TENANT = "72f988bf-0000-0000-0000-000000000000"


def utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


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


class SimulatorCore:
    """The provider-independent part of the simulator: the store, request routing, paging,
    counting, latency and hooks. Authentication (``_identity``, ``_authenticate``: :mod:`.identity`)
    and faults/throttling (``_throttle``, ``_take_fault``: :mod:`.throttle`) come from mixins, as
    do the providers; :class:`.arm.ArmSimulator` puts them together.

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
    clock:
        returns the current UTC ``datetime``; timestamps and time-bound rules (a table's plan
        changes once a week) read it, so a test can move time on (``sim.clock = ...``).
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
        clock: Callable[[], _dt.datetime] = utc_now,
    ) -> None:
        self.subscription_id = subscription_id
        self.tenant_id = tenant_id
        self.page_size = int(page_size)
        self.lro_polls = int(lro_polls)
        self.lro_retry_after = float(lro_retry_after)
        self._rand = random.Random(seed)
        self.clock = clock
        self._lock = threading.RLock()
        self._res: dict[str, dict[str, Any]] = {}
        self._coll: dict[str, dict[str, None]] = {}
        self._children: dict[str, set[str]] = {}
        self._rgs: dict[str, str] = {}
        # accounting
        self.calls: Counter[str] = Counter()
        self.responses: Counter[tuple[str, int]] = Counter()
        self.throttled: Counter[str] = Counter()
        self.token_requests = 0
        self.unauthenticated = 0
        self._writes = 0
        self._reads = 0
        self._count_lock = threading.Lock()
        self._latency = (0.0, 0.0)
        self._hooks: dict[str, list[Callable[[SimRequest], Any]]] = {}
        self._setup()
        self._routes = [(re.compile(p, re.I), methods) for p, methods in self._provider_routes()]

    def _setup(self) -> None:
        """Each provider (and the faults) sets up its own state here, calling ``super()``."""

    def _before_handling(self) -> None:
        """Runs under the state lock before every ARM request's handler: a provider moves what
        runs on Azure's side by itself (operations nobody polls) here (call ``super()``)."""

    def _provider_routes(self) -> list[tuple[str, dict[str, tuple[str, Callable]]]]:
        """``(path regex, {method: (operationId, handler)})`` of each provider (``super()`` + own)."""
        return []

    def set_latency(self, read: float = 0.0, write: float = 0.0) -> None:
        """Seconds every read (GET) / write (PUT, PATCH, DELETE) waits before it is handled."""
        self._latency = (float(read), float(write))

    def hook(self, operation: str, fn: Callable[[SimRequest], Any]) -> None:
        """Call ``fn(request)`` before ``operation`` (operationId or ``"*"``) is handled, outside
        the state lock. ``fn`` may mutate the simulator (e.g. delete the target VM: a race). If it
        returns a :class:`SimResponse` (or an ``(status, body)`` tuple) that is the answer."""
        self._hooks.setdefault(operation, []).append(fn)

    def clear_hooks(self) -> None:
        self._hooks.clear()

    # =========================================================================================
    # ids, GUIDs
    # =========================================================================================
    def _guid(self) -> str:
        return str(uuid.UUID(int=self._rand.getrandbits(128), version=4))

    def _etag(self) -> str:
        return f'"{self._guid()}"'

    def _now(self) -> str:
        return self.clock().isoformat().replace("+00:00", "Z")

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
        old = self._res.get(lid)
        self._res[lid] = body
        if old is None:
            for coll in self._colls_for(lid):
                self._coll.setdefault(coll, {})[lid] = None
                self._children.setdefault(_parent_of_collection(coll), set()).add(coll)
            rg = _rg_of(body["id"])
            if rg:
                self._rgs.setdefault(rg.lower(), rg)
        self._on_store(lid, body, old)
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
        for coll in self._children.pop(lid, set()):
            for child in list(self._coll.get(coll, {})):
                self._delete(child)
        self._on_delete(lid, body)
        return body

    def _on_store(self, lid: str, body: dict[str, Any], old: dict[str, Any] | None) -> None:
        """A provider keeps its own indexes here (call ``super()``)."""

    def _on_delete(self, lid: str, body: dict[str, Any]) -> None:
        """A provider cleans up after a deleted resource here (call ``super()``)."""

    def _members(self, coll: str) -> dict[str, None]:
        return self._coll.get(coll.lower(), {})

    def _lookup(self, rid: Any) -> dict[str, Any] | None:
        if not isinstance(rid, str) or not rid:
            return None
        return self._res.get(rid.lower().rstrip("/"))

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
            self._store(body)
            return copy.deepcopy(body)

    def set_provisioning_state(self, resource_id: str, state: str) -> None:
        with self._lock:
            body = self._lookup(resource_id)
            if body is None:
                raise KeyError(resource_id)
            body.setdefault("properties", {})["provisioningState"] = state

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

    def serve(self, host: str = "127.0.0.1", port: int = 0, **kwargs: Any):
        """Serve over HTTPS in background threads; use as a context manager. See :mod:`.server`."""
        from .server import SimServer

        return SimServer(self, host=host, port=port, **kwargs)

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
            elif path.lower().startswith(LOGS_PATH_PREFIX):  # the Logs data plane has no api-version
                resp = self._logs(method, path, hdrs, body)
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
            ratelimit_headers = self._throttle(op, method)
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
                self._before_handling()
                resp = handler(ctx)
                resp.encode()
            resp.headers.update(ratelimit_headers)
            return resp
        except ArmError as e:
            return SimResponse(e.status, e.body(), dict(e.headers))

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
