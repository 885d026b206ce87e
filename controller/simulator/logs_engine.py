"""Runs KQL over the simulated workspace's rows with duckdb-kql (KQL translated to DuckDB SQL).

The engine is imported on the first query, so the runtime package doesn't need it (it is a test
dependency). Each query gets a fresh in-memory DuckDB holding the rows inside the request's
``timespan`` (the Log Analytics API applies it before the query runs, learn.microsoft.com
azure-monitor/logs/api/request-format), so ``ago()`` is not needed and DuckDB's own clock, which
is not the simulator's, is never read. duckdb-kql's known refusals are listed in
``tests/kql/workspace.py``; a query it refuses is answered like Kusto answers a query it can't
compile (400 ``BadArgumentError`` / ``SemanticError``).
"""

from __future__ import annotations

import atexit
import datetime as _dt
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable

# Kusto column types of a query response, from DuckDB's (learn.microsoft.com
# azure-monitor/logs/api/response-format: each column has a name and a type).
_KUSTO_TYPES = {
    "VARCHAR": "string", "TIMESTAMP WITH TIME ZONE": "datetime", "TIMESTAMP": "datetime",
    "BIGINT": "long", "HUGEINT": "long", "INTEGER": "int", "DOUBLE": "real", "FLOAT": "real",
    "BOOLEAN": "bool", "DECIMAL": "decimal",
}
# Table schema types (dateTime in the tables API, datetime in DCR streams: either casing) -> DuckDB.
_DUCKDB_TYPES = {"datetime": "TIMESTAMPTZ", "string": "VARCHAR", "int": "INTEGER", "long": "BIGINT",
                 "real": "DOUBLE", "boolean": "BOOLEAN", "bool": "BOOLEAN", "dynamic": "VARCHAR", "guid": "VARCHAR"}


# Queries run in the server's daemon threads. One that a released hang lets go just as the
# interpreter exits would be inside DuckDB during finalization, which aborts the process: exit
# waits for running queries instead.
_running = 0
_idle = threading.Condition()


def _wait_for_running_queries() -> None:
    with _idle:
        _idle.wait_for(lambda: _running == 0, timeout=10)


atexit.register(_wait_for_running_queries)


class QueryRefused(Exception):
    """The engine could not compile or run the query: Kusto's 400 with this message."""


@dataclass
class Table:
    """One workspace table: its columns (name, Kusto type) and its rows (tuples in that order)."""

    name: str
    columns: list[tuple[str, str]]
    rows: list[tuple[Any, ...]]


def parse_timespan(text: str | None, now: _dt.datetime) -> tuple[_dt.datetime | None, _dt.datetime | None]:
    """The ISO 8601 interval the SDK sends (``start/end``, ``start/PTnS`` or ``PTnS`` ending now)."""
    if not text:
        return None, None
    if "/" not in text:
        return now - _duration(text), now
    first, second = text.split("/", 1)
    start = _instant(first)
    return start, (start + _duration(second)) if second.upper().startswith("P") else _instant(second)


def _instant(text: str) -> _dt.datetime:
    value = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)


_DURATION = re.compile(r"^P(?:(?P<d>[\d.]+)D)?(?:T(?:(?P<h>[\d.]+)H)?(?:(?P<m>[\d.]+)M)?(?:(?P<s>[\d.]+)S)?)?$", re.I)


def _duration(text: str) -> _dt.timedelta:
    m = _DURATION.match(text)
    if m is None:
        raise QueryRefused(f"The timespan '{text}' is not a valid ISO 8601 duration.")
    return _dt.timedelta(**{unit: float(m[key] or 0) for key, unit in
                            (("d", "days"), ("h", "hours"), ("m", "minutes"), ("s", "seconds"))})


def run_query(query: str, tables: Iterable[Table], start: _dt.datetime | None, end: _dt.datetime | None) -> dict[str, Any]:
    """The response body's table (``name``, ``columns``, ``rows``) of ``query`` over ``tables``,
    each cut to ``start..end`` on ``TimeGenerated``."""
    try:
        import duckdb
        import duckdb_kql
        from duckdb_kql.errors import KqlError
    except ImportError as e:  # a test dependency only
        raise QueryRefused(f"the simulator's KQL engine is missing (pip install 'duckdb-kql[duckdb]'): {e}") from None
    global _running
    with _idle:
        _running += 1
    con = duckdb.connect()
    try:
        for table in tables:
            _load(con, table, start, end)
        try:
            rel = duckdb_kql.query(con, query)
            rows = rel.fetchall()
        except (KqlError, duckdb.Error) as e:
            raise QueryRefused(str(e).splitlines()[0]) from None
        types = [_KUSTO_TYPES.get(str(t).split("(")[0], "string") for t in rel.types]
        return {
            "name": "PrimaryResult",
            "columns": [{"name": n, "type": t} for n, t in zip(rel.columns, types)],
            "rows": [[_json_value(v) for v in row] for row in rows],
        }
    finally:
        con.close()
        with _idle:
            _running -= 1
            _idle.notify_all()


def _load(con, table: Table, start: _dt.datetime | None, end: _dt.datetime | None) -> None:
    names = [n for n, _ in table.columns]
    cols = ", ".join(f'"{n}" {_DUCKDB_TYPES.get(t.lower(), "VARCHAR")}' for n, t in table.columns)
    con.execute(f'CREATE TABLE "{table.name}" ({cols})')
    at = names.index("TimeGenerated") if "TimeGenerated" in names else None
    rows = [r for r in table.rows if at is None or ((start is None or r[at] >= start) and (end is None or r[at] <= end))]
    if rows:  # one statement, a list per column (executemany takes seconds at thousands of rows)
        unnests = ", ".join(f'UNNEST(?::{_DUCKDB_TYPES.get(t.lower(), "VARCHAR")}[])' for _, t in table.columns)
        con.execute(f'INSERT INTO "{table.name}" SELECT {unnests}', [list(column) for column in zip(*rows)])


def _json_value(value: Any) -> Any:
    if isinstance(value, _dt.datetime):  # Kusto sends UTC with a Z
        return value.astimezone(_dt.timezone.utc).isoformat().replace("+00:00", "Z")
    return value


# ---- DCR transforms: `source | ...` over the records an agent read --------------------------


@lru_cache(maxsize=64)
def _transform_sql(kql: str, columns: tuple[tuple[str, str], ...]) -> str:
    """The transform translated once (translation takes most of a run's time): the input stream
    is the table `source` (data-collection-transformations-structure: "a virtual table named source")."""
    try:
        import duckdb_kql
        from duckdb_kql.errors import KqlError
    except ImportError as e:  # a test dependency only
        raise QueryRefused(f"the simulator's KQL engine is missing (pip install 'duckdb-kql[duckdb]'): {e}") from None
    schema = {"source": {n: "datetime" if t.lower() == "datetime" else t.lower() for n, t in columns}}
    try:
        return str(duckdb_kql.to_sql(kql, schema=schema))
    except KqlError as e:
        raise QueryRefused(str(e).splitlines()[0]) from None


def run_transform(kql: str, columns: tuple[tuple[str, str], ...], rows: list[tuple[Any, ...]]
                  ) -> tuple[list[tuple[str, str]], list[tuple[Any, ...]]]:
    """The output columns (name, Kusto type) and rows of a transform over `rows` of the input
    stream's `columns`. Raises QueryRefused when the engine can't compile or run it."""
    import duckdb

    sql = _transform_sql(kql, columns)
    global _running
    with _idle:
        _running += 1
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone='UTC'")
        _load(con, Table("source", list(columns), rows), None, None)
        try:
            rel = con.sql(sql)
            out = rel.fetchall()
        except duckdb.Error as e:
            raise QueryRefused(str(e).splitlines()[0]) from None
        return [(n, _KUSTO_TYPES.get(str(t).split("(")[0], "string")) for n, t in zip(rel.columns, rel.types)], out
    finally:
        con.close()
        with _idle:
            _running -= 1
            _idle.notify_all()


@lru_cache(maxsize=64)
def transform_output(kql: str, columns: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """The columns a transform outputs (run on no rows): what Azure compares with the table."""
    return tuple(run_transform(kql, columns, [])[0])
