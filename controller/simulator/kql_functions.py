"""Workspace functions in a query: `SlurmJob(123) | where ...` with the function's body put in.

Kusto resolves a stored function's name where a query uses it; duckdb-kql knows no stored
functions and no `let` function with a tabular body, so the simulator rewrites the query before
it runs: the call's arguments become `let <parameter> = <argument>;` statements, then come the
body's own `let` statements, and the body's last statement takes the place of the call. That
covers a call that begins a statement (`SlurmJob(1) | ...`, `let x = SlurmJob(1); ...`), which is
how functions are called; a call elsewhere (inside `union`, `join`) is refused with a message
saying so (a known difference from Azure).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Kusto's scalar types, which a function parameter may have (learn.microsoft.com kusto
#: query/scalar-data-types), plus the tabular `(*)` form.
PARAMETER_TYPES = ("bool", "boolean", "datetime", "date", "dynamic", "guid", "int", "long", "real",
                   "double", "string", "timespan", "time", "decimal")
_PARAMETER = re.compile(r"^\s*([A-Za-z_]\w*)\s*:\s*([A-Za-z]+|\(\s*\*\s*\))\s*(?:=\s*(\S.*?))?\s*$", re.S)
_CALL = re.compile(r"^(?P<lead>\s*(?:let\s+[A-Za-z_]\w*\s*=\s*)?)(?P<name>[A-Za-z_]\w*)\s*(?P<open>\()?", re.S)


class FunctionCallError(ValueError):
    """A call the simulator can't expand: Kusto's 400 with this message."""


@dataclass(frozen=True)
class Function:
    alias: str
    parameters: tuple[tuple[str, str, str | None], ...]  # (name, type, default or None)
    body: str


def split_top_level(text: str, separator: str) -> list[str]:
    """`text` cut at each `separator` outside strings, comments, brackets and braces."""
    parts, depth, quote, start, i = [], 0, "", 0, 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\" and not quote.startswith("@"):
                i += 1
            elif c == quote[-1]:
                quote = ""
        elif c in "\"'":
            quote = ("@" + c) if i and text[i - 1] == "@" else c
        elif text.startswith("//", i):  # a comment runs to the end of its line
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        elif c == separator and depth == 0:
            parts.append(text[start:i])
            start = i + 1
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        i += 1
    parts.append(text[start:])
    return parts


def parse_parameters(text: str) -> tuple[tuple[str, str, str | None], ...]:
    """The spec's `'name1:type1 = default1, name2:type2'` -> (name, type, default or None)."""
    found = []
    for i, part in enumerate(split_top_level(text, ",") if text.strip() else []):
        m = _PARAMETER.match(part)
        if m is None or (not m[2].startswith("(") and m[2].lower() not in PARAMETER_TYPES):
            raise ValueError(f"Function parameter {i + 1} '{part.strip()}' is invalid: expected 'name:type' or "
                             "'name:type = default' with a Kusto scalar type.")
        found.append((m[1], m[2].lower(), m[3]))
    names = [n for n, _, _ in found]
    if len(set(names)) != len(names):
        raise ValueError("Function parameters must have distinct names.")
    defaults = [d is not None for _, _, d in found]
    if True in defaults and not all(defaults[defaults.index(True):]):
        raise ValueError("Function parameters with a default value must come after those without.")
    return tuple(found)


def _closing(text: str, open_at: int) -> int:
    """The index of the `)` that closes the `(` at `open_at`."""
    inside = split_top_level(text[open_at + 1:], ")")
    if len(inside) < 2:
        raise FunctionCallError("A function call's '(' is not closed.")
    return open_at + 1 + len(inside[0])


def _bind(function: Function, arguments: list[str]) -> list[str]:
    params = function.parameters
    if len(arguments) > len(params):
        raise FunctionCallError(f"{function.alias}() takes {len(params)} arguments, {len(arguments)} given.")
    bound = []
    for i, (name, _, default) in enumerate(params):
        value = arguments[i] if i < len(arguments) else default
        if value is None:
            raise FunctionCallError(f"{function.alias}(): the argument '{name}' is missing.")
        bound.append(f"let {name} = {value.strip()}")
    return bound


def expand(query: str, functions: dict[str, Function]) -> str:
    """`query` with each call of a workspace function that begins a statement replaced by the
    function's body (see the module's docstring)."""
    if not functions:
        return query
    statements = []
    for statement in split_top_level(query, ";"):
        m = _CALL.match(statement)
        function = functions.get(m["name"]) if m else None
        if function is None or m["lead"].strip() and not m["lead"].strip().startswith("let"):
            statements.append(statement)
            continue
        end = m.end()
        arguments: list[str] = []
        if m["open"]:
            close = _closing(statement, m.start("open"))
            inner = statement[m.start("open") + 1:close]
            arguments = [a for a in split_top_level(inner, ",")] if inner.strip() else []
            end = close + 1
        elif function.parameters and all(d is None for _, _, d in function.parameters):
            raise FunctionCallError(f"{function.alias} takes arguments: call it as {function.alias}(...).")
        body = [s for s in split_top_level(function.body, ";") if s.strip()]
        statements += _bind(function, arguments) + body[:-1]
        statements.append(f"{m['lead']}{body[-1].strip()}{statement[end:]}")
    expanded = ";".join(statements)
    for alias in functions:
        if re.search(rf"(?<![\w.]){re.escape(alias)}\s*\(", _without_strings(expanded)):
            raise FunctionCallError(
                f"The simulator expands the workspace function {alias} only where it begins a statement "
                f"({alias}(...) | ...), not inside union or join (Azure runs both).")
    return expanded


def _without_strings(text: str) -> str:
    return re.sub(r'@?"(?:[^"\\]|\\.)*"|@?\'(?:[^\'\\]|\\.)*\'', '""', text)
