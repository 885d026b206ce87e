"""Microsoft.OperationalInsights: workspaces, tables and the tables' long-running operations, and
saved searches (workspace functions).

Table writes are long-running (202 + ``Azure-AsyncOperation`` + ``Location``); saved searches are
written at once (200) with a new etag each time. The rules bodies must follow are in
:mod:`.operationalinsights_rules`.
"""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass
from typing import Any, Iterable
from urllib.parse import quote

from .errors import ArmError
from .messages import SimResponse, _Ctx
from .operationalinsights_rules import BASIC_RETENTION_DAYS, validate_saved_search, validate_table
from .resources import T_SAVED_SEARCH, T_TABLE, T_WS

PLAN_SWITCH_INTERVAL = _dt.timedelta(days=7)


@dataclass
class _AsyncOp:
    id: str
    kind: str  # "put" | "delete"
    target: str  # lowercased resource id
    remaining: int
    started: str
    status: str = "InProgress"
    ended: str | None = None
    failure: tuple[str, str] | None = None  # (code, message) it ends Failed with
    due: float | None = None  # time.monotonic() when it finishes unpolled (sim.lro_seconds)


class OperationalInsightsMixin:
    def _setup(self) -> None:
        super()._setup()
        self._ops: dict[str, _AsyncOp] = {}
        self._creation_failures: dict[str, tuple[str, str]] = {}  # table name -> (code, message)
        self._plan_switched: dict[str, _dt.datetime] = {}  # table id -> when its plan last changed
        # Azure runs an accepted operation to its end whether or not anyone polls it (a client
        # killed mid-poll): with this set, an operation also finishes this many seconds after it
        # started, seen by any later request. None: only polls move it (sim.lro_polls).
        self.lro_seconds: float | None = None

    def fail_table_creation(self, name: str, code: str = "SchemaUpdateFatalError", message: str | None = None) -> None:
        """The next creation of table ``name`` (in any workspace) is accepted (202) but its
        operation ends ``Failed`` with ``code`` and the table is not created, as Azure can end it
        (azure-facts.md: e.g. ``SchemaUpdateFatalError``, terraform-provider-azurerm#21897)."""
        with self._lock:
            self._creation_failures[name.lower()] = (
                code, message or f"Failed to create table '{name}': the schema update could not be applied.")

    def _check_plan_switch(self, lid: str, old: dict[str, Any] | None, props: dict[str, Any]) -> None:
        """A table's plan can change once a week (logs/logs-table-plans.md). Counted from the last
        switch, not from the table's creation (which Azure counts is unverified)."""
        plan = props.get("plan")
        if old is None or plan is None or plan == old["properties"].get("plan"):
            return
        now = self.clock()
        last = self._plan_switched.get(lid)
        if last is not None and now - last < PLAN_SWITCH_INTERVAL:
            raise ArmError(400, "InvalidParameter",
                           f"The plan of table '{old['name']}' was changed at {last.isoformat()}: it can be changed "
                           f"once a week, next at {(last + PLAN_SWITCH_INTERVAL).isoformat()}.", target="properties.plan")
        self._plan_switched[lid] = now

    def _provider_routes(self):
        sub = r"/subscriptions/(?P<sub>[^/]+)"
        ws = sub + r"/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.OperationalInsights/workspaces"
        opst = sub + r"/providers/Microsoft\.OperationalInsights/locations/(?P<loc>[^/]+)"
        return super()._provider_routes() + [
            (ws + r"/(?P<ws>[^/]+)/tables/(?P<table>[^/]+)$",
             {"GET": ("Tables_Get", self._table_get),
              "PUT": ("Tables_CreateOrUpdate", self._table_put),
              "PATCH": ("Tables_Update", self._table_patch),
              "DELETE": ("Tables_Delete", self._table_delete)}),
            (ws + r"/(?P<ws>[^/]+)/tables$", {"GET": ("Tables_ListByWorkspace", self._table_list)}),
            (ws + r"/(?P<ws>[^/]+)/savedSearches/(?P<search>[^/]+)$",
             {"GET": ("SavedSearches_Get", self._search_get),
              "PUT": ("SavedSearches_CreateOrUpdate", self._search_put),
              "DELETE": ("SavedSearches_Delete", self._search_delete)}),
            (ws + r"/(?P<ws>[^/]+)/savedSearches$", {"GET": ("SavedSearches_ListByWorkspace", self._search_list)}),
            (ws + r"/(?P<ws>[^/]+)$", {"GET": ("Workspaces_Get", self._ws_get)}),
            (ws + r"$", {"GET": ("Workspaces_ListByResourceGroup", self._list_rg(T_WS, paged=False))}),
            (sub + r"/providers/Microsoft\.OperationalInsights/workspaces$",
             {"GET": ("Workspaces_List", self._list_sub(T_WS, paged=False))}),
            (opst + r"/operationStatuses/(?P<op>[^/]+)$", {"GET": ("OperationStatuses_Get", self._op_status)}),
            (opst + r"/operationResults/(?P<op>[^/]+)$", {"GET": ("OperationResults_Get", self._op_result)}),
        ]

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
                "createdDate": self._now(),
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

    def complete_operations(self) -> int:
        """Finish every pending long-running operation now; returns how many."""
        with self._lock:
            pending = [op for op in self._ops.values() if op.status == "InProgress"]
            for op in pending:
                self._finish_op(op)
            return len(pending)

    def _before_handling(self) -> None:
        super()._before_handling()
        if self.lro_seconds is None:
            return
        now = time.monotonic()
        for op in [op for op in self._ops.values() if op.status == "InProgress" and op.due is not None and op.due <= now]:
            self._finish_op(op)

    def pending_operations(self) -> int:
        with self._lock:
            return sum(1 for op in self._ops.values() if op.status == "InProgress")

    def _workspace_tables(self, ws_id: str) -> dict[str, dict]:
        coll = ws_id.lower() + "/tables"
        return {lid.rsplit("/", 1)[1]: self._res[lid] for lid in self._members(coll)}

    def _workspace(self, ctx: "_Ctx") -> dict[str, Any]:
        rg = self._require_rg(ctx)
        name = ctx.params["ws"]
        return self._get_typed(self.resource_id(rg, T_WS, name), T_WS, name, rg)

    def _ws_get(self, ctx: "_Ctx") -> SimResponse:
        return SimResponse(200, self._workspace(ctx))

    def _table_body(
        self, ws: dict[str, Any], name: str, props: dict[str, Any], old: dict[str, Any] | None, *, patch: bool = False,
    ) -> dict[str, Any]:
        """The stored table. Retention a PUT omits goes back to the defaults (the workspace's, or
        30 days on the Basic plan; total = interactive); a PATCH keeps what was set
        (logs/data-retention-configure.md)."""
        oldp = (old or {}).get("properties") or {}
        plan = props.get("plan", oldp.get("plan", "Analytics"))
        kept = old is not None and patch

        def setting(key: str) -> tuple[int | None, bool]:  # (days or None for the default, is default)
            if key in props and props[key] not in (None, -1):
                return props[key], False
            if kept and key not in props and not oldp.get(f"{key}AsDefault"):
                return oldp.get(key), False
            return None, True

        ret, ret_default = setting("retentionInDays")
        total, total_default = setting("totalRetentionInDays")
        default_ret = BASIC_RETENTION_DAYS if plan == "Basic" else ws["properties"].get("retentionInDays", 30)
        ret_val = BASIC_RETENTION_DAYS if plan == "Basic" else default_ret if ret is None else ret
        total_val = ret_val if total is None else total
        if total_val < ret_val:
            raise ArmError(400, "InvalidParameter",
                           f"totalRetentionInDays ({total_val}) cannot be less than retentionInDays ({ret_val}).")
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
                "lastPlanModifiedDate": oldp.get("lastPlanModifiedDate") if oldp.get("plan") == plan else self._now(),
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
        body = self._table_body(ws, name, props, old, patch=patch)
        self._check_plan_switch(lid, old, props)
        body["properties"]["provisioningState"] = "Updating"
        self._store(body)
        failure = self._creation_failures.pop(name.lower(), None) if old is None else None
        return self._start_op(ctx, "put", lid, ws["location"], failure)

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

    # --- saved searches ---------------------------------------------------------------------
    def workspace_functions(self, workspace_id: str) -> list[dict[str, Any]]:
        """The saved searches of a workspace that are functions (have a ``functionAlias``)."""
        with self._lock:
            found = [self._res[lid] for lid in self._members(workspace_id.lower() + "/savedsearches")]
        return [s for s in found if (s.get("properties") or {}).get("functionAlias")]

    def _search(self, ctx: "_Ctx") -> tuple[dict[str, Any], str, dict[str, Any] | None]:
        ws = self._workspace(ctx)
        lid = f"{ws['id']}/savedSearches/{ctx.params['search']}".lower()
        return ws, lid, self._res.get(lid)

    def _search_get(self, ctx: "_Ctx") -> SimResponse:
        ws, _, found = self._search(ctx)
        if found is None:
            raise ArmError(404, "ResourceNotFound",
                           f"The saved search '{ctx.params['search']}' was not found in workspace '{ws['name']}'.")
        return SimResponse(200, found)

    def _search_list(self, ctx: "_Ctx") -> SimResponse:
        ws = self._workspace(ctx)
        # SavedSearchesListResult has no nextLink (spec): every saved search at once.
        return self._page(ctx, iter(self._members(ws["id"].lower() + "/savedsearches")), paged=False)

    def _search_put(self, ctx: "_Ctx") -> SimResponse:
        ws, lid, old = self._search(ctx)
        props, _ = validate_saved_search(ctx.body, old)
        alias = (props.get("functionAlias") or "").lower()
        for other in self._members(ws["id"].lower() + "/savedsearches"):
            taken = (self._res[other].get("properties") or {}).get("functionAlias") or ""
            if alias and other != lid and taken.lower() == alias:
                # Unverified: a workspace's functions are called by name, so two can't share one.
                raise ArmError(409, "Conflict", f"The function alias '{props['functionAlias']}' is already used by "
                               f"saved search '{self._res[other]['name']}' in workspace '{ws['name']}'.")
        props.setdefault("version", 2)
        body = {
            "id": old["id"] if old else f"{ws['id']}/savedSearches/{ctx.params['search']}",
            "name": old["name"] if old else ctx.params["search"],
            "type": T_SAVED_SEARCH,
            "etag": self._etag(),
            "properties": props,
        }
        self._store(body)
        return SimResponse(200, body)

    def _search_delete(self, ctx: "_Ctx") -> SimResponse:
        _, lid, _ = self._search(ctx)
        self._delete(lid)
        return SimResponse(200)  # the spec's only answer, whether it was there or not

    def _op_url(self, ctx: "_Ctx", loc: str, kind: str, op_id: str) -> str:
        return (f"{ctx.base_url}/subscriptions/{self.subscription_id}/providers/Microsoft.OperationalInsights/"
                f"locations/{loc.replace(' ', '').lower()}/{kind}/{op_id}?api-version={quote(ctx.query['api-version'])}")

    def _start_op(
        self, ctx: "_Ctx", kind: str, lid: str, location: str, failure: tuple[str, str] | None = None,
    ) -> SimResponse:
        op_id = self._guid()
        due = None if self.lro_seconds is None else time.monotonic() + self.lro_seconds
        self._ops[op_id] = _AsyncOp(op_id, kind, lid, self.lro_polls, self._now(), failure=failure, due=due)
        return SimResponse(202, None, {
            "Azure-AsyncOperation": self._op_url(ctx, location, "operationStatuses", op_id),
            "Location": self._op_url(ctx, location, "operationResults", op_id),
            "Retry-After": "0",
        })

    def _finish_op(self, op: _AsyncOp) -> None:
        op.status = "Failed" if op.failure else "Succeeded"
        op.ended = self._now()
        body = self._res.get(op.target)
        if body is None:
            return
        if op.failure:  # only creations fail: no table is left behind
            self._delete(op.target)
        elif op.kind == "put":
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
        if op.failure:
            body["error"] = {"code": op.failure[0], "message": op.failure[1]}
        return SimResponse(200, body, headers)

    def _op_result(self, ctx: "_Ctx") -> SimResponse:
        op = self._advance(ctx)
        if op.status == "InProgress":
            return SimResponse(202, None, {"Location": f"{ctx.base_url}{ctx.path}?api-version={ctx.query['api-version']}",
                                           **self._retry_after_headers(self.lro_retry_after)})
        if op.failure:
            raise ArmError(400, op.failure[0], op.failure[1])
        body = self._res.get(op.target)
        if op.kind == "put" and body is not None:
            return SimResponse(200, body)
        return SimResponse(204)
