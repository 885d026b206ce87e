"""What Microsoft.OperationalInsights refuses in a table body.

Sources: the spec ``Tables.json`` (2022-10-01) for shapes and enums; the service-side rules Azure
documents, named at each check (the pages are in ``/work/shared/notes/azure-facts.md``). Saved
searches: the spec ``SavedSearches.json`` (2020-08-01, Azure/azure-rest-api-specs).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from .errors import ArmError
from .kql_functions import parse_parameters
from .validation import column_type_key

# enums from the spec; ``dateTime`` in either casing (see validation.column_type_key)
TABLE_COLUMN_TYPES = ("string", "int", "long", "real", "boolean", "dateTime", "guid", "dynamic")
TABLE_DATA_TYPE_HINTS = ("uri", "guid", "armPath", "ip")
TABLE_PLANS = ("Basic", "Analytics")
#: retention (logs/data-retention-configure.md): interactive 4..730 days; total 4..730 or one of
#: these whole years; -1 means the default (the workspace's, and total = interactive).
RETENTION_DAYS = range(4, 731)
TOTAL_RETENTION_YEARS = (1095, 1460, 1826, 2191, 2556, 2922, 3288, 3653, 4018, 4383)
#: a Basic table keeps its data 30 days interactively, not changeable (logs/logs-table-plans.md)
BASIC_RETENTION_DAYS = 30

#: custom log table names: a letter first, letters/digits/underscores, ending in _CL, at most 63.
CUSTOM_TABLE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,59}_CL$")
COLUMN_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,44}$")
TABLE_TYPE_KEYS = frozenset(column_type_key(t) for t in TABLE_COLUMN_TYPES)


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

    for key, allowed, words in (
        ("retentionInDays", RETENTION_DAYS, "between 4 and 730"),
        ("totalRetentionInDays", (*RETENTION_DAYS, *TOTAL_RETENTION_YEARS),
         f"between 4 and 730 or one of {', '.join(map(str, TOTAL_RETENTION_YEARS))}"),
    ):
        v = props.get(key)
        if v is None:
            continue
        if not isinstance(v, int) or isinstance(v, bool) or not (v == -1 or v in allowed):
            raise _bad(f"{key} must be {words} (or -1 for the default); got {v!r}.", f"properties.{key}")
    plan = props.get("plan")
    if plan is not None and plan not in TABLE_PLANS:
        raise _bad(f"Table plan '{plan}' is invalid; expected one of {', '.join(TABLE_PLANS)}.", "properties.plan")
    effective_plan = plan or ((existing or {}).get("properties") or {}).get("plan")
    if effective_plan == "Basic" and props.get("retentionInDays") not in (None, -1, BASIC_RETENTION_DAYS):
        raise _bad(f"A table with the Basic plan keeps data {BASIC_RETENTION_DAYS} days interactively: "
                   f"retentionInDays {props['retentionInDays']} can't be set.", "properties.retentionInDays")

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
            if column_type_key(ctype) not in TABLE_TYPE_KEYS:
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
            if column_type_key(tg) != "datetime":
                raise _bad(f"Column 'TimeGenerated' of table '{name}' must be of type 'dateTime', not '{tg}'.", "properties.schema.columns")
        if existing is not None:
            old = {c["name"].lower(): c.get("type") for c in ((existing.get("properties") or {}).get("schema") or {}).get("columns") or []}
            for cname, ctype in seen.items():
                if cname in old and column_type_key(old[cname]) != column_type_key(ctype):
                    raise _bad(
                        f"The type of existing column '{cname}' cannot be changed from '{old[cname]}' to '{ctype}'.",
                        "properties.schema.columns",
                    )
        schema["columns"] = cols
    props["schema"] = schema
    return props


# ---------------------------------------------------------------------------------------------
# Saved searches (workspace functions)
# ---------------------------------------------------------------------------------------------
#: SavedSearchProperties' required fields (spec).
SAVED_SEARCH_REQUIRED = ("category", "displayName", "query")
#: A function's name is a Kusto identifier; letters, digits and underscores, not starting with a
#: digit (unverified: Kusto allows more in bracketed names, Azure's own rule for aliases isn't documented).
FUNCTION_ALIAS_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def validate_saved_search(body: Any, existing: dict[str, Any] | None) -> tuple[dict[str, Any], str | None]:
    """Validate a SavedSearch PUT body; return its writable ``properties`` and the etag it sent."""
    if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
        raise ArmError(400, "InvalidRequestContent",
                       "The request content was invalid: a saved search needs 'properties' (spec: required).")
    props = copy.deepcopy(body["properties"])
    for name in SAVED_SEARCH_REQUIRED:
        if not isinstance(props.get(name), str) or not props[name].strip():
            raise _bad(f"The saved search's '{name}' is required (category, displayName and query are).",
                       f"properties.{name}")
    alias = props.get("functionAlias")
    if alias is not None and (not isinstance(alias, str) or not FUNCTION_ALIAS_RE.match(alias)):
        raise _bad(f"Function alias '{alias}' is invalid: letters, digits and underscores, not starting "
                   "with a digit.", "properties.functionAlias")
    parameters = props.get("functionParameters")
    if parameters is not None:
        if not isinstance(parameters, str):
            raise _bad("functionParameters must be a string.", "properties.functionParameters")
        try:
            parse_parameters(parameters)
        except ValueError as e:
            raise _bad(str(e), "properties.functionParameters") from None
    version = props.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise _bad("version must be an integer (the query language's version, 2).", "properties.version")
    tags = props.get("tags")
    if tags is not None:
        if not isinstance(tags, list) or not all(
                isinstance(t, dict) and isinstance(t.get("name"), str) and isinstance(t.get("value"), str) for t in tags):
            raise _bad("tags must be a list of {name, value} strings (spec: Tag requires both).", "properties.tags")
    etag = body.get("etag")
    current = (existing or {}).get("etag")
    # "To override an existing saved search, use "*" or specify the current Etag" (spec); without
    # one Azure answers 409 (ssc-spc-ccoe-cei/azure-guardrails-solution-accelerator#61).
    if existing is not None and etag != "*" and etag != current:
        raise ArmError(409, "Conflict", "Newer data exists in the Customer Configuration Store. "
                       "To override the saved search, send its current etag or '*'.")
    return props, etag
