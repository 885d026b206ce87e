"""What Azure refuses in a DCR's ``transformKql``, before it ever runs.

Source: "Supported KQL features in Azure Monitor transformations"
(MicrosoftDocs/azure-monitor-docs ``articles/azure-monitor/data-collection/
data-collection-transformations-kql.md``; azure-facts.md "DCR transformations"): only per-record
tabular operators, only the scalar functions that page lists (others are refused at DCR creation:
``replace_string``, Azure/Azure-Sentinel PR #15099; ``rand``, microsoft/BCTech#221), and a ``parse``
extracts at most 10 columns per statement. ``replace`` is not on the page's list but is in its own
``parse_cef_dictionary`` example and is the spelling Sentinel's transforms use: allowed.
The check is lexical: string literals and comments are blanked first, then every ``| operator``
and every ``name(`` call is looked up.
"""

from __future__ import annotations

import re

TABULAR_OPERATORS = frozenset({
    "extend", "project", "print", "where", "parse", "project-away", "project-rename", "datatable",
})
SCALAR_FUNCTIONS = frozenset({
    # bitwise
    "binary_and", "binary_or", "binary_not", "binary_shift_left", "binary_shift_right", "binary_xor",
    # conversion
    "tobool", "todatetime", "todouble", "toreal", "toguid", "toint", "tolong", "tostring", "totimespan",
    # datetime and timespan
    "ago", "datetime_add", "datetime_diff", "datetime_part", "dayofmonth", "dayofweek", "dayofyear",
    "endofday", "endofmonth", "endofweek", "endofyear", "getmonth", "getyear", "hourofday",
    "make_datetime", "make_timespan", "now", "startofday", "startofmonth", "startofweek", "startofyear",
    "weekofyear",
    # dynamic and array
    "array_concat", "array_length", "pack_array", "pack", "parse_json", "parse_xml", "zip",
    # mathematical
    "abs", "bin", "floor", "ceiling", "exp", "exp10", "exp2", "isfinite", "isinf", "isnan", "log",
    "log10", "log2", "pow", "round", "sign",
    # conditional
    "case", "iif", "max_of", "min_of",
    # string
    "base64_encodestring", "base64_decodestring", "countof", "extract", "extract_all", "indexof",
    "isempty", "isnotempty", "split", "strcat", "strcat_delim", "strlen", "substring", "tolower",
    "toupper", "hash_sha256", "replace",
    # type
    "gettype", "isnotnull", "isnull",
    # special (transforms only), the column lookup, literals and logic written as calls
    "parse_cef_dictionary", "geo_location", "columnifexists", "datetime", "timespan", "dynamic",
    "not", "datatable",
    # operators that take a parenthesised list
    "in", "and", "or",
})
MAX_PARSE_COLUMNS = 10

_LITERALS = re.compile(r'@"[^"]*"|@\'[^\']*\'|"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|//[^\n]*')
_OPERATOR = re.compile(r"\|\s*([A-Za-z_][\w-]*)")
_CALL = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\s*\(")
_PARSE = re.compile(r"\|\s*parse\b(?P<body>[^|]*)")
_TYPE_NAMES = {"string", "int", "long", "real", "double", "bool", "boolean", "datetime", "timespan", "dynamic", "guid", "decimal"}


def _blanked(kql: str) -> str:
    """The query with string literals and comments replaced by a placeholder."""
    return _LITERALS.sub(lambda m: " " if m.group().startswith("//") else ' "" ', kql)


def _parse_columns(body: str) -> int:
    """Columns one `parse ... with <pattern>` extracts: the names in its pattern."""
    _, _, pattern = body.partition(" with ")
    names = re.findall(r"[A-Za-z_]\w*", pattern)
    return sum(1 for n in names if n.lower() not in _TYPE_NAMES)


def transform_problems(kql: str) -> list[str]:
    """Why Azure would refuse this transform, one sentence each; [] when it would not."""
    text = _blanked(kql)
    problems = []
    for op in dict.fromkeys(m.group(1) for m in _OPERATOR.finditer(text)):
        if op.lower() not in TABULAR_OPERATORS:
            problems.append(f"The operator '{op}' is not supported in transformations: only per-record operators "
                            f"({', '.join(sorted(TABULAR_OPERATORS))}) are.")
    for fn in dict.fromkeys(m.group(1) for m in _CALL.finditer(text)):
        if fn.lower() not in SCALAR_FUNCTIONS and fn.lower() not in TABULAR_OPERATORS:
            problems.append(f"The function '{fn}' is not supported in transformations.")
    for m in _PARSE.finditer(text):
        count = _parse_columns(m.group("body"))
        if count > MAX_PARSE_COLUMNS:
            problems.append(f"A parse statement extracts {count} columns: transformations allow at most "
                            f"{MAX_PARSE_COLUMNS} per statement; split it into several parse statements.")
    if not re.match(r"\s*(let\b[^;]*;\s*)*(source|print)\b", text):
        problems.append("A transformation must read the virtual table 'source' (or start with print).")
    return problems
