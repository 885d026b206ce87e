"""What Microsoft.Insights refuses in a data collection rule (and an association's name).

Sources: the spec ``dataCollectionRules_API.json`` (2023-03-11) for shapes and enums; the
service-side rules Azure documents (named at each check; the pages are in
``/work/shared/notes/azure-facts.md``).
"""

from __future__ import annotations

import copy
import re
from typing import Any, Callable

from .errors import ArmError, detail, invalid_payload
from .logs_engine import QueryRefused, transform_output
from .transform_rules import transform_problems
from .validation import column_type_key, is_str_list, validate_tags

# ---------------------------------------------------------------------------------------------
# enums from the spec (dataCollectionRules_API.json 2023-03-11); case-sensitive but for datetime
# ---------------------------------------------------------------------------------------------
DCR_COLUMN_TYPES = ("string", "int", "long", "real", "boolean", "datetime", "dynamic")
#: the spec's kind enum is Linux and Windows, extensible ("modelAsString"); AgentSettings is the
#: documented kind of a DCR that carries only the spec's ``properties.agentSettings``
#: (AgentSettingsSpec); the rest are kinds Azure makes itself. No kind at all is valid too.
DCR_KINDS = ("Linux", "Windows", "AgentSettings", "AgentDirectToStore", "WorkspaceTransforms", "PlatformTelemetry", "Direct")
LOG_FILE_FORMATS = ("json", "text")
RECORD_START_TIMESTAMP_FORMATS = (
    "ISO 8601",
    "YYYY-MM-DD HH:MM:SS",
    "M/D/YYYY HH:MM:SS AM/PM",
    "Mon DD, YYYY HH:MM:SS",
    "yyMMdd HH:mm:ss",
    "ddMMyy HH:mm:ss",
    "MMM d hh:mm:ss",
    "dd/MMM/yyyy:HH:mm:ss zzz",
    "yyyy-MM-ddTHH:mm:ssK",
)
SYSLOG_STREAMS = ("Microsoft-Syslog",)
SYSLOG_FACILITIES = (
    "*", "alert", "audit", "auth", "authpriv", "clock", "cron", "daemon", "ftp", "kern",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7", "lpr",
    "mail", "mark", "news", "nopri", "ntp", "syslog", "user", "uucp",
)
SYSLOG_LEVELS = ("Debug", "Info", "Notice", "Warning", "Error", "Critical", "Alert", "Emergency", "*")
PERF_STREAMS = ("Microsoft-Perf", "Microsoft-InsightsMetrics")
#: ``Microsoft-`` streams a data flow may use without declaring them (KnownDataFlowStreams and the
#: streams produced by the built-in data sources).
KNOWN_MICROSOFT_STREAMS = frozenset(
    s.lower()
    for s in (
        "Microsoft-Event",
        "Microsoft-InsightsMetrics",
        "Microsoft-Perf",
        "Microsoft-Syslog",
        "Microsoft-WindowsEvent",
        "Microsoft-W3CIISLog",
        "Microsoft-ASimFirewallLogs",
        "Microsoft-PrometheusMetrics",
        "Microsoft-SecurityEvent",
        "Microsoft-CommonSecurityLog",
    )
)
DESTINATION_KINDS = (
    "logAnalytics", "monitoringAccounts", "azureMonitorMetrics", "eventHubs", "eventHubsDirect",
    "storageBlobsDirect", "storageTablesDirect", "storageAccounts", "microsoftFabric", "azureDataExplorer",
)

#: DCR and association names (the RP allows letters, digits, '-', '_', '.'; 1..64 characters).
DCR_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
ASSOCIATION_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
#: per-DCR limits (azure-monitor-docs fundamentals/includes/azure-monitor-limits-data-collection-rules.md)
MAX_DATA_SOURCES = 10
MAX_DATA_FLOWS = 10
MAX_STREAMS = 10
MAX_TRANSFORM_CHARS = 15_360

Lookup = Callable[[str], "dict[str, Any] | None"]


# ---------------------------------------------------------------------------------------------
# Data collection rules
# ---------------------------------------------------------------------------------------------
def validate_dcr(body: Any, lookup: Lookup, workspace_tables: Callable[[str], dict[str, dict]]) -> dict[str, Any]:
    """Validate a DataCollectionRuleResource PUT body; return the writable part, cleaned.

    ``lookup(id)`` finds a stored resource by ARM id; ``workspace_tables(ws_id)`` returns the
    workspace's tables keyed by lowercased table name.
    Raises :class:`ArmError` (400) with Azure's codes.
    """
    if not isinstance(body, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized.")
    location = body.get("location")
    if not location or not isinstance(location, str):
        raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
    kind = body.get("kind")
    if kind is not None and (not isinstance(kind, str) or kind.lower() not in {k.lower() for k in DCR_KINDS}):
        raise invalid_payload(
            f"Data collection rule kind '{kind}' is not supported. Supported kinds: {', '.join(DCR_KINDS)}.",
            [detail("InvalidKind", f"Invalid kind '{kind}'.", "kind")],
        )
    tags = validate_tags(body.get("tags"))
    props = body.get("properties") or {}
    if not isinstance(props, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content was invalid: 'properties' must be an object.")
    props = copy.deepcopy(props)
    for ro in ("immutableId", "provisioningState", "metadata", "endpoints"):
        props.pop(ro, None)

    errs: list[dict[str, Any]] = []

    # streamDeclarations ------------------------------------------------------------------
    declared: dict[str, dict] = {}
    sd = props.get("streamDeclarations") or {}
    if not isinstance(sd, dict):
        errs.append(detail("InvalidStreamDeclaration", "streamDeclarations must be an object.", "properties.streamDeclarations"))
        sd = {}
    for sname, decl in sd.items():
        tgt = f"properties.streamDeclarations.{sname}"
        if not sname.startswith("Custom-"):
            errs.append(detail("InvalidStreamName", f"Stream name '{sname}' is invalid: declared streams must start with 'Custom-'.", tgt))
        cols = (decl or {}).get("columns") if isinstance(decl, dict) else None
        if not isinstance(cols, list) or not cols:
            errs.append(detail("InvalidStreamDeclaration", f"Stream '{sname}' must declare at least one column.", tgt))
            cols = []
        seen: set[str] = set()
        for i, col in enumerate(cols):
            ctgt = f"{tgt}.columns[{i}]"
            if not isinstance(col, dict) or not isinstance(col.get("name"), str) or not col.get("name"):
                errs.append(detail("InvalidColumn", "Column name is required.", ctgt))
                continue
            cname, ctype = col["name"], col.get("type")
            if column_type_key(ctype) not in DCR_COLUMN_TYPES:  # datetime in either casing
                errs.append(detail(
                    "InvalidColumnType",
                    f"Column '{cname}' of stream '{sname}' has invalid type '{ctype}'. "
                    f"Supported types: {', '.join(DCR_COLUMN_TYPES)}.", ctgt,
                ))
            if cname.lower() in seen:
                errs.append(detail("DuplicateColumn", f"Column '{cname}' is declared more than once in stream '{sname}'.", ctgt))
            seen.add(cname.lower())
        declared[sname.lower()] = decl if isinstance(decl, dict) else {}

    def stream_known(s: str) -> bool:
        return s.lower() in declared or s.lower() in KNOWN_MICROSOFT_STREAMS

    # dataSources --------------------------------------------------------------------------
    ds = props.get("dataSources") or {}
    if not isinstance(ds, dict):
        errs.append(detail("InvalidDataSource", "dataSources must be an object.", "properties.dataSources"))
        ds = {}
    source_names: set[str] = set()
    for i, lf in enumerate(ds.get("logFiles") or []):
        tgt = f"properties.dataSources.logFiles[{i}]"
        if not isinstance(lf, dict):
            errs.append(detail("InvalidDataSource", "logFiles items must be objects.", tgt))
            continue
        for req in ("streams", "filePatterns", "format", "name"):
            if lf.get(req) in (None, "", []):
                errs.append(detail("MissingRequiredProperty", f"Property '{req}' is required for a logFiles data source.", f"{tgt}.{req}"))
        if lf.get("streams") is not None and not is_str_list(lf.get("streams")):
            errs.append(detail("InvalidDataSource", "streams must be a list of strings.", f"{tgt}.streams"))
        elif lf.get("streams"):
            for s in lf["streams"]:
                if s.lower() not in declared:
                    errs.append(detail("InvalidStream", f"Stream '{s}' used by data source '{lf.get('name')}' is not declared in streamDeclarations.", f"{tgt}.streams"))
        if lf.get("filePatterns") is not None and not is_str_list(lf.get("filePatterns")):
            errs.append(detail("InvalidDataSource", "filePatterns must be a list of strings.", f"{tgt}.filePatterns"))
        if lf.get("format") is not None and lf.get("format") not in LOG_FILE_FORMATS:
            errs.append(detail("InvalidDataSource", f"Log file format '{lf.get('format')}' is invalid; expected one of {', '.join(LOG_FILE_FORMATS)}.", f"{tgt}.format"))
        text = ((lf.get("settings") or {}).get("text")) if isinstance(lf.get("settings"), dict) else None
        if text is not None:
            fmt = text.get("recordStartTimestampFormat") if isinstance(text, dict) else None
            if fmt not in RECORD_START_TIMESTAMP_FORMATS:
                errs.append(detail("InvalidDataSource", f"recordStartTimestampFormat '{fmt}' is invalid.", f"{tgt}.settings.text.recordStartTimestampFormat"))
        _unique_name(lf.get("name"), source_names, errs, tgt)
    for i, sl in enumerate(ds.get("syslog") or []):
        tgt = f"properties.dataSources.syslog[{i}]"
        if not isinstance(sl, dict):
            errs.append(detail("InvalidDataSource", "syslog items must be objects.", tgt))
            continue
        for s in sl.get("streams") or []:
            if s not in SYSLOG_STREAMS:
                errs.append(detail("InvalidStream", f"Stream '{s}' is not valid for a syslog data source.", f"{tgt}.streams"))
        for f in sl.get("facilityNames") or []:
            if f not in SYSLOG_FACILITIES:
                errs.append(detail("InvalidDataSource", f"Syslog facility '{f}' is invalid.", f"{tgt}.facilityNames"))
        for lv in sl.get("logLevels") or []:
            if lv not in SYSLOG_LEVELS:
                errs.append(detail("InvalidDataSource", f"Syslog log level '{lv}' is invalid.", f"{tgt}.logLevels"))
        _unique_name(sl.get("name"), source_names, errs, tgt)
    for i, pc in enumerate(ds.get("performanceCounters") or []):
        tgt = f"properties.dataSources.performanceCounters[{i}]"
        for s in (pc or {}).get("streams") or []:
            if s not in PERF_STREAMS:
                errs.append(detail("InvalidStream", f"Stream '{s}' is not valid for a performance counter data source.", f"{tgt}.streams"))
        _unique_name((pc or {}).get("name"), source_names, errs, tgt)

    # destinations -------------------------------------------------------------------------
    dest = props.get("destinations") or {}
    if not isinstance(dest, dict):
        errs.append(detail("InvalidDestination", "destinations must be an object.", "properties.destinations"))
        dest = {}
    dest_names: dict[str, tuple[str, dict]] = {}
    for kind_name in DESTINATION_KINDS:
        items = dest.get(kind_name)
        if items is None:
            continue
        if kind_name == "azureMonitorMetrics":
            items = [items]
        if not isinstance(items, list):
            errs.append(detail("InvalidDestination", f"destinations.{kind_name} must be a list.", f"properties.destinations.{kind_name}"))
            continue
        for i, d in enumerate(items):
            tgt = f"properties.destinations.{kind_name}[{i}]"
            name = d.get("name") if isinstance(d, dict) else None
            if not name:
                errs.append(detail("MissingRequiredProperty", "Destination name is required.", f"{tgt}.name"))
                continue
            if name.lower() in dest_names:
                errs.append(detail("DuplicateDestinationName", f"Destination name '{name}' is used more than once.", tgt))
                continue
            dest_names[name.lower()] = (kind_name, d)
            if kind_name == "logAnalytics":
                d.pop("workspaceId", None)  # read-only
                wsid = d.get("workspaceResourceId")
                ws = lookup(wsid) if isinstance(wsid, str) and wsid else None
                if ws is None or ws.get("type", "").lower() != "microsoft.operationalinsights/workspaces":
                    errs.append(detail(
                        "InvalidDestination",
                        f"Log Analytics workspace '{wsid}' of destination '{name}' was not found or is not accessible.",
                        f"{tgt}.workspaceResourceId",
                    ))
                elif _region(ws.get("location")) != _region(location):
                    # vm/data-collection.md: the DCR must be in the workspace's region
                    errs.append(detail(
                        "InvalidDestinationLocation",
                        f"Log Analytics workspace '{wsid}' of destination '{name}' is in region '{ws.get('location')}': "
                        f"a data collection rule can only send to a workspace in its own region '{location}'.",
                        f"{tgt}.workspaceResourceId",
                    ))
                else:
                    d["workspaceId"] = ws["properties"]["customerId"]

    # dataFlows ----------------------------------------------------------------------------
    flows = props.get("dataFlows") or []
    if not isinstance(flows, list):
        errs.append(detail("InvalidDataFlow", "dataFlows must be a list.", "properties.dataFlows"))
        flows = []
    for i, df in enumerate(flows):
        tgt = f"properties.dataFlows[{i}]"
        if not isinstance(df, dict):
            errs.append(detail("InvalidDataFlow", "dataFlows items must be objects.", tgt))
            continue
        streams = df.get("streams")
        if not is_str_list(streams) or not streams:
            errs.append(detail("InvalidDataFlow", "A data flow must name at least one stream.", f"{tgt}.streams"))
            streams = []
        for s in streams:
            if not stream_known(s):
                errs.append(detail("InvalidStream", f"Stream '{s}' used in data flow is not declared in streamDeclarations and is not a known stream.", f"{tgt}.streams"))
        dests = df.get("destinations")
        if not is_str_list(dests) or not dests:
            errs.append(detail("InvalidDataFlow", "A data flow must name at least one destination.", f"{tgt}.destinations"))
            dests = []
        out = df.get("outputStream")
        if out is not None and not isinstance(out, str):
            errs.append(detail("InvalidOutputStream", "outputStream must be a string.", f"{tgt}.outputStream"))
            out = None
        if out is not None and not (out.startswith("Custom-") or out.startswith("Microsoft-")):
            errs.append(detail("InvalidOutputStream", f"Output stream '{out}' is invalid: it must start with 'Custom-' or 'Microsoft-'.", f"{tgt}.outputStream"))
            out = None
        # custom input streams without outputStream go to the table named after the stream
        outputs = [out] if out else [s for s in streams if s.startswith("Custom-")]
        for dn in dests:
            entry = dest_names.get(dn.lower())
            if entry is None:
                errs.append(detail("InvalidDestination", f"Destination '{dn}' used in data flow is not defined in destinations.", f"{tgt}.destinations"))
                continue
            kind_name, d = entry
            if kind_name != "logAnalytics" or "workspaceId" not in d:
                continue
            tables = workspace_tables(d["workspaceResourceId"])
            for o in outputs:
                if not o.startswith("Custom-"):
                    continue
                tname = o[len("Custom-"):]
                t = tables.get(tname.lower())
                if t is None or (t.get("properties") or {}).get("provisioningState") != "Succeeded":
                    errs.append(detail(
                        "InvalidOutputTable",
                        f"Table for output stream '{o}' is not available for destination '{dn}'.",
                        f"{tgt}.outputStream",
                    ))
                else:
                    for stream in streams:
                        output = _transform_output(df.get("transformKql"), declared.get(stream.lower()), errs, f"{tgt}.transformKql")
                        _check_output_columns(output, t, errs, f"{tgt}.transformKql")

    _check_limits(sd, ds, flows, errs)
    if errs:
        raise invalid_payload("Data collection rule is invalid: " + " ".join(e["message"] for e in errs), errs)

    clean: dict[str, Any] = {"location": location, "properties": props}
    if tags is not None:
        clean["tags"] = tags
    if kind is not None:
        clean["kind"] = kind
    if body.get("identity") is not None:
        clean["identity"] = copy.deepcopy(body["identity"])
    return clean


def _unique_name(name: Any, seen: set[str], errs: list, tgt: str) -> None:
    if not isinstance(name, str) or not name:
        return
    if name.lower() in seen:
        errs.append(detail("DuplicateDataSourceName", f"Data source name '{name}' is used more than once.", f"{tgt}.name"))
    seen.add(name.lower())


def _region(location: Any) -> str:
    return str(location or "").replace(" ", "").lower()


def _is_source(transform: Any) -> bool:
    """``source`` (or none) passes the input stream through unchanged: its columns are the output."""
    return transform is None or (isinstance(transform, str) and transform.strip() in ("", "source"))


def _transform_output(kql: Any, stream: dict | None, errs: list, tgt: str) -> dict | None:
    """The columns a data flow writes, in a stream declaration's shape: the input stream's with
    ``source``; else what the transform outputs, run on no rows by the local KQL engine, once
    Azure's rules for transforms (``transform_rules``) pass. None when it can't be told."""
    if _is_source(kql) or not stream or not isinstance(stream.get("columns"), list):
        return stream
    if not isinstance(kql, str):
        errs.append(detail("InvalidTransformQuery", "transformKql must be a string.", tgt))
        return None
    problems = transform_problems(kql)
    if problems:
        errs.append(detail("InvalidTransformQuery", f"The transformation is not valid: {' '.join(problems)}", tgt))
        return None
    columns = tuple((c.get("name"), column_type_key(c.get("type"))) for c in stream["columns"] if isinstance(c, dict))
    try:
        output = transform_output(kql, columns)
    except QueryRefused as e:
        errs.append(detail("InvalidTransformQuery", f"The transformation could not be compiled: {e}", tgt))
        return None
    return {"columns": [{"name": n, "type": t} for n, t in output]}


def _check_output_columns(stream: dict | None, table: dict, errs: list, tgt: str) -> None:
    """The transform's output must have the destination table's columns and types
    (azure-facts.md: Azure refuses the DCR with "Types of transform output columns do not match");
    ``datetime`` matches ``dateTime`` (either casing, as the service accepts)."""
    if not stream or not isinstance(stream.get("columns"), list):
        return
    schema = (table.get("properties") or {}).get("schema") or {}
    table_types = {c["name"].lower(): c.get("type") for c in (schema.get("columns") or []) + (schema.get("standardColumns") or [])}
    for col in stream["columns"]:
        if not isinstance(col, dict) or not isinstance(col.get("name"), str):
            continue
        want = table_types.get(col["name"].lower())
        if want is None or column_type_key(want) != column_type_key(col.get("type")):
            found = f"'{want}'" if want is not None else "no such column"
            errs.append(detail(
                "InvalidTransformOutput",
                f"Types of transform output columns do not match the ones defined by the output table "
                f"'{table.get('name')}': column '{col['name']}' is '{col.get('type')}', the table has {found}.", tgt,
            ))


def _check_limits(declarations: dict, sources: dict, flows: list, errs: list) -> None:
    """Per-DCR limits (fundamentals/includes/azure-monitor-limits-data-collection-rules.md)."""
    n_sources = sum(len(v) for v in sources.values() if isinstance(v, list))
    for what, count, limit, tgt in (
        ("data sources", n_sources, MAX_DATA_SOURCES, "properties.dataSources"),
        ("data flows", len(flows), MAX_DATA_FLOWS, "properties.dataFlows"),
        ("streams", len(declarations), MAX_STREAMS, "properties.streamDeclarations"),
    ):
        if count > limit:
            errs.append(detail("LimitExceeded", f"A data collection rule can have at most {limit} {what}; this one has {count}.", tgt))
    for i, df in enumerate(flows):
        kql = df.get("transformKql") if isinstance(df, dict) else None
        if isinstance(kql, str) and len(kql) > MAX_TRANSFORM_CHARS:
            errs.append(detail(
                "LimitExceeded",
                f"A transformation can be at most {MAX_TRANSFORM_CHARS} characters long; this one has {len(kql)}.",
                f"properties.dataFlows[{i}].transformKql",
            ))
