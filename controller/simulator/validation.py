"""Request-body validation for the simulated resource providers.

The rules follow Microsoft's OpenAPI specs (``/work/shared/azure-rest-specs``):
``dataCollectionRules_API.json`` / ``dataCollectionRuleAssociations_API.json`` (2023-03-11) and
``Tables.json`` (2022-10-01), plus the service-side checks Azure documents on top of the schema
(custom table names end in ``_CL``, a custom table has a ``TimeGenerated`` ``dateTime`` column,
a DCR data flow's output table must exist in the destination workspace, ...).

Read-only properties in a request body are ignored, as ARM does.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Callable

from .errors import ArmError, detail, invalid_payload

# ---------------------------------------------------------------------------------------------
# enums from the specs (case-sensitive: the service refuses other spellings)
# ---------------------------------------------------------------------------------------------
DCR_COLUMN_TYPES = ("string", "int", "long", "real", "boolean", "datetime", "dynamic")
TABLE_COLUMN_TYPES = ("string", "int", "long", "real", "boolean", "dateTime", "guid", "dynamic")
TABLE_DATA_TYPE_HINTS = ("uri", "guid", "armPath", "ip")
TABLE_PLANS = ("Basic", "Analytics")
DCR_KINDS = ("Linux", "Windows", "AgentDirectToStore", "WorkspaceTransforms", "PlatformTelemetry", "Direct")
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
#: custom log table names: a letter first, letters/digits/underscores, ending in _CL, at most 63.
CUSTOM_TABLE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,59}_CL$")
COLUMN_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,44}$")
RESOURCE_GROUP_RE = re.compile(r"^[-\w._()]{1,90}$")

Lookup = Callable[[str], "dict[str, Any] | None"]


def _is_str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def validate_tags(tags: Any) -> dict[str, str] | None:
    if tags is None:
        return None
    if not isinstance(tags, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content was invalid: 'tags' must be an object.")
    if len(tags) > 50:
        raise ArmError(400, "InvalidTagCount", "A resource can have at most 50 tags.")
    for k, v in tags.items():
        if not isinstance(v, str):
            raise ArmError(
                400, "InvalidRequestContent",
                f"The request content was invalid: the value of tag '{k}' must be a string.",
            )
        if len(k) > 512 or len(v) > 256:
            raise ArmError(400, "InvalidTagNameOrValueLength", f"Tag '{k}' name or value is too long.")
    return dict(tags)


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
            if ctype not in DCR_COLUMN_TYPES:
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
        if lf.get("streams") is not None and not _is_str_list(lf.get("streams")):
            errs.append(detail("InvalidDataSource", "streams must be a list of strings.", f"{tgt}.streams"))
        elif lf.get("streams"):
            for s in lf["streams"]:
                if s.lower() not in declared:
                    errs.append(detail("InvalidStream", f"Stream '{s}' used by data source '{lf.get('name')}' is not declared in streamDeclarations.", f"{tgt}.streams"))
        if lf.get("filePatterns") is not None and not _is_str_list(lf.get("filePatterns")):
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
        if not _is_str_list(streams) or not streams:
            errs.append(detail("InvalidDataFlow", "A data flow must name at least one stream.", f"{tgt}.streams"))
            streams = []
        for s in streams:
            if not stream_known(s):
                errs.append(detail("InvalidStream", f"Stream '{s}' used in data flow is not declared in streamDeclarations and is not a known stream.", f"{tgt}.streams"))
        dests = df.get("destinations")
        if not _is_str_list(dests) or not dests:
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


# ---------------------------------------------------------------------------------------------
# Log Analytics tables
# ---------------------------------------------------------------------------------------------
def _bad(message: str, target: str | None = None) -> ArmError:
    return ArmError(400, "InvalidParameter", message, target=target)


def validate_table(name: str, body: Any, existing: dict[str, Any] | None) -> dict[str, Any]:
    """Validate a Table PUT body; return the cleaned writable ``properties``."""
    if not isinstance(body, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized.")
    props = body.get("properties") or {}
    if not isinstance(props, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content was invalid: 'properties' must be an object.")
    props = copy.deepcopy(props)
    for ro in ("archiveRetentionInDays", "resultStatistics", "lastPlanModifiedDate", "provisioningState",
               "retentionInDaysAsDefault", "totalRetentionInDaysAsDefault"):
        props.pop(ro, None)

    custom = name.endswith("_CL")
    if existing is None:
        if not custom:
            raise _bad(f"Table name '{name}' is invalid: custom log table names must end with '_CL'.", "tableName")
        if not CUSTOM_TABLE_RE.match(name):
            raise _bad(
                f"Table name '{name}' is invalid: it must start with a letter, contain only letters, digits "
                "and underscores, be at most 63 characters long and end with '_CL'.", "tableName",
            )

    for key, lo, hi in (("retentionInDays", 4, 730), ("totalRetentionInDays", 4, 4383)):
        v = props.get(key)
        if v is None:
            continue
        if not isinstance(v, int) or isinstance(v, bool) or not (v == -1 or lo <= v <= hi):
            raise _bad(f"{key} must be between {lo} and {hi} (or -1 for the default); got {v!r}.", f"properties.{key}")
    plan = props.get("plan")
    if plan is not None and plan not in TABLE_PLANS:
        raise _bad(f"Table plan '{plan}' is invalid; expected one of {', '.join(TABLE_PLANS)}.", "properties.plan")

    schema = props.get("schema")
    if schema is not None and not isinstance(schema, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content was invalid: 'schema' must be an object.")
    schema = schema or {}
    for ro in ("standardColumns", "categories", "labels", "source", "tableType", "tableSubType", "solutions"):
        schema.pop(ro, None)
    if schema.get("name") is not None and str(schema["name"]).lower() != name.lower():
        raise _bad(f"Schema name '{schema['name']}' must match the table name '{name}'.", "properties.schema.name")
    cols = schema.get("columns")
    if cols is None:
        if existing is None and custom:
            raise _bad(f"Table '{name}' must define schema columns, including 'TimeGenerated' of type 'dateTime'.", "properties.schema.columns")
        cols = None
    elif not isinstance(cols, list):
        raise ArmError(400, "InvalidRequestContent", "The request content was invalid: 'columns' must be a list.")
    if cols is not None:
        seen: dict[str, str] = {}
        for i, col in enumerate(cols):
            tgt = f"properties.schema.columns[{i}]"
            if not isinstance(col, dict) or not isinstance(col.get("name"), str):
                raise _bad("Column name is required.", tgt)
            col.pop("isDefaultDisplay", None)
            col.pop("isHidden", None)
            cname, ctype = col["name"], col.get("type")
            if not COLUMN_NAME_RE.match(cname):
                raise _bad(f"Column name '{cname}' is invalid.", tgt)
            if ctype not in TABLE_COLUMN_TYPES:
                raise _bad(
                    f"Column '{cname}' has invalid type '{ctype}'. Supported types: {', '.join(TABLE_COLUMN_TYPES)}.", tgt,
                )
            hint = col.get("dataTypeHint")
            if hint is not None and hint not in TABLE_DATA_TYPE_HINTS:
                raise _bad(f"Column '{cname}' has invalid dataTypeHint '{hint}'.", tgt)
            if cname.lower() in seen:
                raise _bad(f"Column '{cname}' is defined more than once.", tgt)
            seen[cname.lower()] = ctype
        if custom:
            tg = seen.get("timegenerated")
            if tg is None:
                raise _bad(f"Table '{name}' must have a 'TimeGenerated' column of type 'dateTime'.", "properties.schema.columns")
            if tg != "dateTime":
                raise _bad(f"Column 'TimeGenerated' of table '{name}' must be of type 'dateTime', not '{tg}'.", "properties.schema.columns")
        if existing is not None:
            old = {c["name"].lower(): c.get("type") for c in ((existing.get("properties") or {}).get("schema") or {}).get("columns") or []}
            for cname, ctype in seen.items():
                if cname in old and old[cname] != ctype:
                    raise _bad(
                        f"The type of existing column '{cname}' cannot be changed from '{old[cname]}' to '{ctype}'.",
                        "properties.schema.columns",
                    )
        schema["columns"] = cols
    props["schema"] = schema
    return props
