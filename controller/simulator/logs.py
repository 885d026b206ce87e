"""The Logs data plane: the Log Analytics query endpoint and a simulated Azure Monitor Agent.

Query endpoint: ``POST /v1/workspaces/{customerId}/query`` with ``{"query", "timespan"}``, the
call ``azure-monitor-query``'s ``LogsQueryClient.query_workspace`` makes (its generated
``build_monitor_query_logs_execute_request``; learn.microsoft.com azure-monitor/logs/api/
request-format). It takes the same bearer tokens as ARM and answers ``{"tables": [{"name",
"columns": [{"name", "type"}], "rows"}]}``; a partial result is a 200 with the tables so far
plus an ``error`` object (code ``PartialError``), a failure an error status with a OneAPI error
object (azure-monitor/logs/api/response-format). An unknown workspace is 404
``WorkspaceNotFoundError``; a query the engine refuses is 400 ``BadArgumentError`` with the
reason as ``innererror`` ``SemanticError``. The KQL runs in :mod:`.logs_engine`, after the
workspace's functions (saved searches with a ``functionAlias``) are put in where the query calls
them (:mod:`.kql_functions`).

Faults: ``sim.inject(QUERY_OPERATION, 429, retry_after=...)`` and ``sim.hang(QUERY_OPERATION,
...)`` (a timeout) as for any ARM operation; :meth:`LogsMixin.partial_results` for partial ones.

The agent (:meth:`LogsMixin.tick`): every VM and Uniform instance whose associations (its own,
or its Uniform scale set's) name a DCR writes, each minute, one ``Heartbeat`` row to each
workspace its DCRs send to (AMA's heartbeat, azure-monitor vm/data-collection.md "Verify agent
operation": ``Computer``, ``_ResourceId``, ``Category`` = "Azure Monitor Agent") and one row to
each table a ``logFiles`` source's data flow outputs to (``Custom-<table>``, the table must exist).
It collects nothing from a file pattern with a wildcard in a directory (the seed's predecessor,
yosoyjay/slurm-log-collection db457ec: "DCRs do not support wildcards for dirs"), and nothing at
all from a machine :meth:`LogsMixin.silence` d (agent missing, identity not usable, model not
applied, Arm64: the causes the ARM-side preflight finds). The DCR's ``transformKql`` is not
applied: rows have the raw stream's columns. ``_ResourceId`` is the machine's id, lowercased as
Log Analytics stores it; for a Uniform instance that is the instance's id (unverified).
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import ArmError
from .kql_functions import Function, FunctionCallError, expand, parse_parameters
from .logs_engine import QueryRefused, Table, parse_timespan, run_query, run_transform
from .messages import SimResponse
from .resources import T_DCR, T_VM, T_VMSS_VM, T_WS
from .textlogs import matches, records

# Azure size names mark an Arm processor with the feature letter p (Dpsv5, Epsv6; learn.microsoft.com
# virtual-machines/vm-naming-conventions); GB200/GB300 nodes carry Grace Arm CPUs.
_ARM64_SIZE = re.compile(r"^standard_[a-z]+\d+(-\d+)?[a-z]*p[a-z]*_|_gb[23]00", re.IGNORECASE)

LOGS_PATH_PREFIX = "/v1/workspaces/"
QUERY_OPERATION = "Query_Execute"
AGENT_CATEGORY = "Azure Monitor Agent"
HEARTBEAT_COLUMNS = [("TimeGenerated", "datetime"), ("Computer", "string"), ("_ResourceId", "string"),
                     ("Category", "string"), ("OSType", "string")]
_STANDARD_COLUMNS = [("_ResourceId", "string")]  # every table has it besides its schema's


@dataclass(frozen=True)
class Flow:
    """One data flow of a DCR's file source, as the agent runs it."""

    customer: str  # the destination workspace's customerId
    table: str
    patterns: tuple[str, ...]
    transform: str
    columns: tuple[tuple[str, str], ...]  # the input stream's
    record_start: str | None

    @property
    def passes_through(self) -> bool:
        return self.transform.strip() in ("", "source")


def _computer(machine: dict[str, Any]) -> str:
    """The host name the agent reports: the OS's computer name, else the resource's name."""
    return ((machine.get("properties") or {}).get("osProfile") or {}).get("computerName") or machine["name"]


def directory_wildcard(pattern: str) -> bool:
    """A ``*`` or ``?`` before the last ``/``: the agent collects nothing from such a pattern."""
    directory = pattern.replace("\\", "/").rpartition("/")[0]
    return "*" in directory or "?" in directory


class LogsMixin:
    def _setup(self) -> None:
        super()._setup()
        self._log_rows: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (customerId, table lower) -> rows
        self._silenced: dict[str, str] = {}  # machine id (lower) -> cause
        self._written: dict[str, dict[str, list[str]]] = {}  # machine id (lower) -> path -> lines not read yet
        self._partials: list[list[Any]] = []  # [times left, rows kept, message]
        self.queries: list[str] = []  # the text of every query answered, in order

    # --- test API: the agent ---------------------------------------------------------------
    def silence(self, machine_id: str, cause: str) -> None:
        """The machine's agent sends nothing (``cause`` says why, for the test's own messages)."""
        with self._lock:
            self._silenced[machine_id.lower()] = cause

    def unsilence(self, machine_id: str) -> None:
        with self._lock:
            self._silenced.pop(machine_id.lower(), None)

    def append_lines(self, machine_id: str, path: str, lines: list[str]) -> None:
        """Lines a program writes to the file ``path`` on the machine. The next :meth:`tick` in
        which the machine's agent collects reads them: cut into records (the DCR source's
        ``recordStartTimestampFormat``), sent through every data flow of each of its DCRs whose
        file patterns match ``path`` (each flow's ``transformKql`` run by the local KQL engine),
        with TimeGenerated = the tick's time before any transform."""
        with self._lock:
            self._written.setdefault(machine_id.lower(), {}).setdefault(path, []).extend(lines)

    def tick(self, minutes: int = 1) -> int:
        """What the agents send in the ``minutes`` minutes up to now (the simulator's clock), one
        batch a minute. Returns how many rows were written. Only an agent that runs sends (the
        extension installed and provisioned; for a Uniform instance, in a model it has applied)
        with an identity it can use; on Arm64 it heartbeats but collects no text logs."""
        now = self.clock()
        written = 0
        with self._lock:
            plans = []
            for machine in self._machines():
                runs, collects = self._agent_runs(machine)
                if runs:
                    workspaces, files = self._collection_of_machine(machine)
                    plans.append((machine, (workspaces, files if collects else [])))
            for i in range(minutes):
                at = now - _dt.timedelta(minutes=minutes - 1 - i)
                for machine, (workspaces, files) in plans:
                    written += self._send(machine, workspaces, files, at)
            written += self._ingest_written([(m, flows) for m, (_, flows) in plans if flows], now)
        return written

    def log_rows(self, workspace_id: str, table: str) -> list[dict[str, Any]]:
        """The rows a workspace holds in a table, as dicts (test API: no HTTP)."""
        with self._lock:
            return [dict(r) for r in self._log_rows.get((self._customer_id(workspace_id), table.lower()), [])]

    def add_log_rows(self, workspace_id: str, table: str, rows: list[dict[str, Any]]) -> None:
        """Rows put in a workspace's table as if something had sent them (test API: no HTTP)."""
        with self._lock:
            self._log_rows.setdefault((self._customer_id(workspace_id), table.lower()), []).extend(dict(r) for r in rows)

    def partial_results(self, times: int = 1, rows_kept: int = 0,
                        message: str = "Query result set has exceeded the internal record count limit.") -> None:
        """The next ``times`` queries answer a partial result: the first ``rows_kept`` rows and a
        ``PartialError`` whose innermost message is ``message``."""
        with self._count_lock:
            self._partials.append([times, rows_kept, message])

    # --- the agent (lock held) ---------------------------------------------------------------
    def _agent_settings(self, machine: dict[str, Any]) -> dict[str, Any] | None:
        """The Azure Monitor Agent extension's properties as the machine runs it, or None."""
        if machine["type"] == T_VM:
            found = [self._res.get(r["id"].lower()) for r in machine.get("resources") or []]
        elif (machine.get("properties") or {}).get("latestModelApplied", True):
            found = self._model_extensions(self._lookup(machine["id"].rsplit("/virtualMachines/", 1)[0]))
        else:  # the agent is in a model this instance hasn't applied (Manual upgrade policy)
            return None
        for extension in found:
            props = (extension or {}).get("properties") or {}
            if props.get("type") == "AzureMonitorLinuxAgent" and props.get("provisioningState") == "Succeeded":
                return props
        return None

    def _agent_runs(self, machine: dict[str, Any]) -> tuple[bool, bool]:
        """(the agent runs and can authenticate, it collects text logs). AMA needs a managed
        identity: a user-assigned one only when its settings name it (azure-facts.md, Identity);
        custom text logs are not supported on Arm64 (Dps/Eps 'p' sizes, GB200/GB300)."""
        props = self._agent_settings(machine)
        if props is None:
            return False, False
        identity = machine.get("identity") or {}
        named = ((props.get("settings") or {}).get("authentication") or {}).get("managedIdentity") or {}
        if named:
            field = {"mi_res_id": "id", "client_id": "clientId", "object_id": "principalId"}.get(named.get("identifier-name"))
            users = [{"id": i, **u} for i, u in (identity.get("userAssignedIdentities") or {}).items()]
            usable = any(field and str(u.get(field, "")).lower() == str(named.get("identifier-value", "")).lower() for u in users)
        else:
            usable = "SystemAssigned" in (identity.get("type") or "")
        size = ((machine.get("properties") or {}).get("hardwareProfile") or {}).get("vmSize") or (machine.get("sku") or {}).get("name", "")
        return usable, usable and not _ARM64_SIZE.search(size)

    def _machines(self) -> list[dict[str, Any]]:
        return [b for b in self._res.values()
                if b.get("type") in (T_VM, T_VMSS_VM) and b["id"].lower() not in self._silenced
                and (b.get("properties") or {}).get("provisioningState") == "Succeeded"]

    def _rules_of(self, machine: dict[str, Any]) -> list[dict[str, Any]]:
        targets = [machine["id"]]
        if machine["type"] == T_VMSS_VM:  # a Uniform scale set's association covers its instances
            targets.append(machine["id"].rsplit("/virtualMachines/", 1)[0])
        rules = []
        for target in targets:
            for lid in self._members(target.lower() + "/providers/microsoft.insights/datacollectionruleassociations"):
                rule = self._lookup((self._res[lid].get("properties") or {}).get("dataCollectionRuleId"))
                if rule is not None and rule.get("type") == T_DCR:
                    rules.append(rule)
        return rules

    def _collection_of_machine(self, machine: dict[str, Any]) -> tuple[set[str], list[Flow]]:
        """The workspaces (customerIds) the machine's agent heartbeats to, and the data flows of
        its DCRs' file sources."""
        workspaces: set[str] = set()
        flows: list[Flow] = []
        for rule in self._rules_of(machine):
            props = rule.get("properties") or {}
            destinations = {}
            for d in (props.get("destinations") or {}).get("logAnalytics") or []:
                ws = self._lookup(d.get("workspaceResourceId"))
                if ws is not None and ws.get("type") == T_WS:
                    destinations[d.get("name")] = ws["properties"]["customerId"].lower()
            workspaces.update(destinations.values())
            for source in (props.get("dataSources") or {}).get("logFiles") or []:
                patterns = tuple(p for p in source.get("filePatterns") or [] if not directory_wildcard(p))
                record_start = (((source.get("settings") or {}).get("text")) or {}).get("recordStartTimestampFormat")
                for flow in props.get("dataFlows") or []:
                    streams = [s for s in flow.get("streams") or [] if s in (source.get("streams") or [])]
                    out = flow.get("outputStream") or ""
                    if not streams or not out.startswith("Custom-"):
                        continue
                    declared = ((props.get("streamDeclarations") or {}).get(streams[0]) or {}).get("columns") or []
                    columns = tuple((c["name"], c["type"]) for c in declared)
                    flows += [Flow(destinations[dest], out[len("Custom-"):], patterns, flow.get("transformKql") or "source",
                                   columns, record_start)
                              for dest in flow.get("destinations") or [] if dest in destinations]
        return workspaces, flows

    def _send(self, machine: dict[str, Any], workspaces: set[str], flows: list[Flow], at) -> int:
        computer = _computer(machine)
        resource_id = machine["id"].lower()
        for customer in workspaces:
            self._log_rows.setdefault((customer, "heartbeat"), []).append({
                "TimeGenerated": at, "Computer": computer, "_ResourceId": resource_id,
                "Category": AGENT_CATEGORY, "OSType": "Linux"})
        sent = len(workspaces)
        # A file no test wrote: one made-up line a minute per pattern, into the raw flows only
        # (running a transform takes the engine a fraction of a second: real lines only).
        for flow in flows:
            if not flow.passes_through or not self._table_exists(flow):
                continue
            for path in (p.replace("*", "sim") for p in flow.patterns):
                self._log_rows.setdefault((flow.customer, flow.table.lower()), []).append({
                    "TimeGenerated": at, "RawData": f"simulated line of {path}", "Computer": computer,
                    "FilePath": path, "_ResourceId": resource_id})
                sent += 1
        return sent

    def _table_exists(self, flow: Flow) -> bool:
        ws = self._workspace_by_customer(flow.customer)
        return ws is not None and self._lookup(f"{ws['id']}/tables/{flow.table}") is not None

    def _ingest_written(self, collecting: list[tuple[dict[str, Any], list[Flow]]], at) -> int:
        """The lines :meth:`append_lines` wrote on collecting machines, through their data flows:
        one engine run per distinct transform (the agent stamps ``_ResourceId``, which no transform
        sees: rows find it again by their Computer)."""
        batches: dict[Flow, list[dict[str, Any]]] = {}
        resource_of: dict[str, str] = {}
        for machine, flows in collecting:
            written = self._written.pop(machine["id"].lower(), {})
            computer = _computer(machine)
            resource_of[computer] = machine["id"].lower()
            for path, lines in written.items():
                for flow in flows:
                    if matches(path, list(flow.patterns)):
                        batches.setdefault(flow, []).extend(
                            {"TimeGenerated": at, "RawData": r, "Computer": computer, "FilePath": path}
                            for r in records(lines, flow.record_start))
        sent = 0
        for flow, rows in batches.items():
            if not self._table_exists(flow):
                continue  # ingestion into a table that isn't there is dropped
            if flow.passes_through:
                names, out = [c for c, _ in flow.columns], [tuple(r.get(c) for c, _ in flow.columns) for r in rows]
            else:
                try:
                    columns, out = run_transform(flow.transform, flow.columns, [tuple(r.get(c) for c, _ in flow.columns) for r in rows])
                except QueryRefused:
                    continue  # Azure refused such a DCR: only a rule stored by put() gets here
                names = [c for c, _ in columns]
            kept = self._log_rows.setdefault((flow.customer, flow.table.lower()), [])
            for values in out:
                row = dict(zip(names, values))
                kept.append({**row, "_ResourceId": resource_of.get(row.get("Computer"))})
            sent += len(out)
        return sent

    # --- the query endpoint -------------------------------------------------------------------
    def _logs(self, method: str, path: str, hdrs: dict[str, str], raw: bytes) -> SimResponse:
        self._authenticate(hdrs)
        parts = path.split("/")  # "", "v1", "workspaces", id, "query"
        if len(parts) != 5 or parts[4].lower() != "query":
            raise ArmError(404, "PathNotFoundError", f"The requested path '{path}' does not exist.")
        if method != "POST":
            raise ArmError(405, "MethodNotAllowed", f"The requested method '{method}' is not allowed for '{path}'.")
        with self._count_lock:
            self.calls[QUERY_OPERATION] += 1
            self._reads += 1
        fault = self._take_fault(QUERY_OPERATION)
        if fault is not None:
            return fault
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise ArmError(400, "BadArgumentError", "The request body is not valid JSON.") from None
        query = body.get("query") if isinstance(body, dict) else None
        if not isinstance(query, str) or not query.strip():
            raise ArmError(400, "BadArgumentError", "The request had some invalid properties: 'query' is required.")
        with self._lock:
            ws = self._workspace_by_customer(parts[3].lower())
            if ws is None:
                raise ArmError(404, "WorkspaceNotFoundError", f"The workspace could not be found: '{parts[3]}'.")
            tables = self._query_tables(ws)
            functions = self._query_functions(ws)
            basic = self._basic_tables(ws)
            start, end = parse_timespan(body.get("timespan"), self.clock())
        self.queries.append(query)
        try:
            refuse_basic_beside_others(query, basic, [t.name for t in tables], functions)
            table = run_query(expand(query, functions), tables, start, end)
        except (QueryRefused, FunctionCallError) as e:
            return SimResponse(400, {"error": {
                "code": "BadArgumentError", "message": "The request had some invalid properties",
                "innererror": {"code": "SemanticError", "message": str(e)}}})
        return SimResponse(200, self._maybe_partial({"tables": [table]}))

    def _maybe_partial(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._count_lock:
            partial = next((p for p in self._partials if p[0] != 0), None)
            if partial is None:
                return body
            partial[0] -= 1
        _, kept, message = partial
        body["tables"][0]["rows"] = body["tables"][0]["rows"][:kept]
        body["error"] = {
            "code": "PartialError", "message": "There were some errors when processing your query.",
            "details": [{"code": "EngineError", "message": "Something went wrong processing your query on the server.",
                         "innererror": {"code": "-2133196797", "message": message, "severity": 2,
                                        "severityName": "Error"}}],
        }
        return body

    # --- workspace helpers (lock held) ---------------------------------------------------------
    def _workspace_by_customer(self, customer_id: str) -> dict[str, Any] | None:
        for lid in self._members(f"/subscriptions/{self.subscription_id}/providers/{T_WS}"):
            if self._res[lid]["properties"]["customerId"].lower() == customer_id:
                return self._res[lid]
        return None

    def _customer_id(self, workspace_id: str) -> str:
        ws = self._lookup(workspace_id)
        if ws is None or ws.get("type") != T_WS:
            raise KeyError(f"workspace {workspace_id} does not exist")
        return ws["properties"]["customerId"].lower()

    def _table_columns(self, workspace_id: str, table: str) -> list[tuple[str, str]]:
        if table.lower() == "heartbeat":
            return HEARTBEAT_COLUMNS
        body = self._lookup(f"{workspace_id}/tables/{table}") or {}
        schema = ((body.get("properties") or {}).get("schema") or {}).get("columns") or []
        return [(c["name"], c["type"]) for c in schema] + _STANDARD_COLUMNS

    def _basic_tables(self, ws: dict[str, Any]) -> set[str]:
        return {self._res[lid]["name"] for lid in self._members(ws["id"].lower() + "/tables")
                if (self._res[lid].get("properties") or {}).get("plan") in ("Basic", "Auxiliary")}

    def _query_functions(self, ws: dict[str, Any]) -> dict[str, Function]:
        """The workspace's functions by alias, as a query calls them."""
        functions = {}
        for search in self.workspace_functions(ws["id"]):
            props = search["properties"]
            functions[props["functionAlias"]] = Function(
                props["functionAlias"], parse_parameters(props.get("functionParameters") or ""), props["query"])
        return functions

    def _query_tables(self, ws: dict[str, Any]) -> list[Table]:
        customer = ws["properties"]["customerId"].lower()
        names = ["Heartbeat"] + [self._res[lid]["name"] for lid in self._members(ws["id"].lower() + "/tables")]
        tables = []
        for name in names:
            columns = self._table_columns(ws["id"], name)
            rows = [tuple(r.get(c) for c, _ in columns) for r in self._log_rows.get((customer, name.lower()), [])]
            tables.append(Table(name, columns, rows))
        return tables


def refuse_basic_beside_others(query: str, basic: set[str], names: list[str], functions: dict[str, Function]) -> None:
    """A query of a Basic or Auxiliary table is limited to that one table, and can't call a
    workspace function (learn.microsoft.com azure-monitor/logs/basic-logs-query, "Limitations").
    Tables are found by name in the text: good enough for the controller's own queries."""
    named = {n for n in names if re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", query)}
    on_basic = sorted(named & basic)
    if not on_basic:
        return
    called = [alias for alias in functions if re.search(rf"(?<![\w-]){re.escape(alias)}\s*\(", query)]
    if len(named) > 1 or called:
        others = sorted(named - {on_basic[0]}) + called
        raise QueryRefused(f"'{on_basic[0]}' is on the Basic plan: a query of it is limited to that one table and "
                           f"calls no function (also named: {', '.join(others)})")
