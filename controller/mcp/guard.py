"""The guarded KQL tool's rules: a query, never a command, over a window the caller names.

Log Analytics' query API runs queries only, but a client can still ask for more than it should:
management commands (``.show``, ``.set``: Kusto's control commands start with a dot), other
workspaces or clusters (``workspace()``, ``app()``, ``cluster()``, ``adx()``), data from outside
(``externaldata``, ``evaluate sql_request`` / ``http_request`` / ``python``), or everything since
the table began. Those are refused here, before anything
is sent, and every query gets a row cap (``| take``) the server adds itself."""

from __future__ import annotations

import datetime as _dt
import re

MAX_WINDOW = _dt.timedelta(days=31)
# Operators and functions that reach outside the one workspace the server answers for.
_OUTSIDE = re.compile(r"\b(externaldata|external_table|workspace|app|cluster|database|adx|resource)\s*\(|"
                      r"\bevaluate\s+(\w*_request\w*|python|r)\b", re.I)
_STRINGS = re.compile(r'@?"(?:[^"\\\n]|\\.)*"|@?\'(?:[^\'\\\n]|\\.)*\'')
_COMMENT = re.compile(r"//[^\n]*")


class QueryRejected(ValueError):
    """The query breaks a rule: the message says which, and what to send instead."""


def checked_window(since: _dt.datetime, until: _dt.datetime | None, now: _dt.datetime) -> tuple[_dt.datetime, _dt.datetime]:
    start, end = _utc(since), _utc(until) if until else now
    if end <= start:
        raise QueryRejected(f"the window ends ({end.isoformat()}) before it starts ({start.isoformat()}): "
                            "give `since` earlier than `until`")
    if end - start > MAX_WINDOW:
        raise QueryRejected(f"the window is {(end - start).days} days; at most {MAX_WINDOW.days}: "
                            "narrow `since`/`until`, or ask several windows")
    return start, end


def guarded(kql: str, max_rows: int) -> str:
    """The query with the server's row cap appended; QueryRejected when it breaks a rule."""
    code = _COMMENT.sub("", _STRINGS.sub('""', kql))
    statements = [s.strip() for s in code.split(";")]
    if not any(statements):
        raise QueryRejected("the query is empty: send a KQL query such as `slurmctld_CL | where Level == \"error\"`")
    for statement in statements:
        if statement.startswith("."):
            raise QueryRejected(f"`{statement.split()[0]}` is a management command; this tool runs read-only "
                                "queries only (start from a table, e.g. `slurmd_CL | take 10`)")
    outside = _OUTSIDE.search(code)
    if outside:
        what = f"{outside.group(1)}()" if outside.group(1) else f"evaluate {outside.group(2)}"
        raise QueryRejected(f"`{what}` reaches outside this workspace; query its tables only (list_tables names them)")
    body = kql.rstrip().rstrip(";").rstrip()
    # One more than asked, so the answer can tell a cut result from one that just fits.
    return f"{body}\n| take {max_rows + 1}"


def _utc(value: _dt.datetime) -> _dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
