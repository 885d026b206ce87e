"""How fresh each machine's data is in the workspace, from the data itself (pure).

Two queries per pass whatever the cluster's size: the last ``Heartbeat`` of each machine's
Azure Monitor Agent, and the last record of each machine in each of our tables (one ``union``).
Both run over the request's timespan (``now - lookback .. now``) rather than ``ago()``, so the
answer depends on the ``now`` given, not on the server's clock. Machines are matched by
``Computer`` (the host name the agent reports), case-insensitively.

A partial result (Log Analytics' ``PartialError``: the rows so far, and why it stopped) is kept
and flagged: a machine missing from it is unknown, not silent.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

#: AMA's own heartbeat: one row a minute per healthy agent (azure-monitor vm/data-collection.md).
AGENT_CATEGORY = "Azure Monitor Agent"
HEARTBEAT_QUERY = (
    "Heartbeat\n"
    f'| where Category == "{AGENT_CATEGORY}"\n'
    "| summarize LastHeartbeat = max(TimeGenerated) by Computer, _ResourceId"
)
DEFAULT_LOOKBACK = _dt.timedelta(days=1)
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class QueryResult:
    """One query's answer: its columns, its rows, and whether it stopped short (``partial``,
    with Log Analytics' reason in ``error``)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    partial: bool = False
    error: str = ""

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row)) for row in self.rows]


#: runs one query: (workspace customerId, KQL, (start, end)) -> QueryResult
RunQuery = Callable[[str, str, tuple[_dt.datetime, _dt.datetime]], QueryResult]


def records_query(tables: Iterable[str]) -> str:
    """The last record of each machine in each table, in one query."""
    names = list(tables)
    bad = [n for n in names if not _TABLE_NAME.match(n)]
    if bad:
        raise ValueError(f"not a table name: {bad[0]!r}")
    return (
        f"union withsource=SourceTable {', '.join(names)}\n"
        "| summarize LastRecord = max(TimeGenerated) by SourceTable, Computer"
    )


@dataclass(frozen=True)
class Freshness:
    """What the workspace holds at ``now``. Keys are lowercased host names (``Computer``)."""

    now: _dt.datetime
    tables: tuple[str, ...]
    heartbeats: Mapping[str, _dt.datetime] = field(default_factory=dict)
    resource_ids: Mapping[str, str] = field(default_factory=dict)  # host -> the agent's _ResourceId
    records: Mapping[tuple[str, str], _dt.datetime] = field(default_factory=dict)  # (host, table)
    partial: bool = False
    errors: tuple[str, ...] = ()
    queries: int = 0

    def last_heartbeat(self, computer: str) -> _dt.datetime | None:
        return self.heartbeats.get(computer.lower())

    def last_record(self, computer: str, table: str) -> _dt.datetime | None:
        return self.records.get((computer.lower(), table))

    def silent(self, computer: str, threshold: _dt.timedelta) -> bool | None:
        """No heartbeat within ``threshold`` of ``now``; ``None`` (unknown) when a partial
        result lacks the machine."""
        last = self.last_heartbeat(computer)
        if last is None:
            return None if self.partial else True
        return self.now - last > threshold

    def freshest(self, computer: str, tables: Iterable[str] | None = None) -> tuple[str, _dt.datetime] | None:
        """The table with the machine's newest record, among ``tables`` (default: all of ours;
        pass the ones its associations target so another role's tables don't count)."""
        found = [(t, at) for t in self._among(tables) if (at := self.last_record(computer, t)) is not None]
        return max(found, key=lambda item: item[1]) if found else None

    def stalest(self, computer: str, tables: Iterable[str] | None = None) -> tuple[str, _dt.datetime | None] | None:
        """The table with the machine's oldest record among ``tables``; one with none comes first
        (``None``)."""
        among = self._among(tables)
        if not among:
            return None
        return min(((t, self.last_record(computer, t)) for t in among),
                   key=lambda item: (item[1] is not None, item[1] or self.now))

    def _among(self, tables: Iterable[str] | None) -> tuple[str, ...]:
        return self.tables if tables is None else tuple(tables)

    def seconds_since_last_record(self, table: str) -> float | None:
        """Seconds from the table's newest record, of any machine, to ``now``."""
        newest = [at for (_, t), at in self.records.items() if t == table]
        return (self.now - max(newest)).total_seconds() if newest else None


def freshness(run: RunQuery, customer_id: str, tables: Iterable[str], now: _dt.datetime,
              lookback: _dt.timedelta = DEFAULT_LOOKBACK) -> Freshness:
    """Run the (at most) two queries through ``run`` and read them into a :class:`Freshness`."""
    tables = tuple(tables)
    timespan = (now - lookback, now)
    answers = [run(customer_id, HEARTBEAT_QUERY, timespan)]
    if tables:
        answers.append(run(customer_id, records_query(tables), timespan))
    heartbeats, resource_ids = read_heartbeats(answers[0])
    return Freshness(
        now=now,
        tables=tables,
        heartbeats=heartbeats,
        resource_ids=resource_ids,
        records=read_records(answers[1]) if tables else {},
        partial=any(a.partial for a in answers),
        errors=tuple(a.error for a in answers if a.partial),
        queries=len(answers),
    )


def read_heartbeats(result: QueryResult) -> tuple[dict[str, _dt.datetime], dict[str, str]]:
    """host -> last heartbeat, host -> _ResourceId (a host seen under two ids keeps the newer)."""
    last: dict[str, _dt.datetime] = {}
    ids: dict[str, str] = {}
    for row in result.records():
        host, at = str(row["Computer"]).lower(), _utc(row["LastHeartbeat"])
        if host not in last or at > last[host]:
            last[host], ids[host] = at, row.get("_ResourceId") or ""
    return last, ids


def read_records(result: QueryResult) -> dict[tuple[str, str], _dt.datetime]:
    out: dict[tuple[str, str], _dt.datetime] = {}
    for row in result.records():
        key = (str(row["Computer"]).lower(), str(row["SourceTable"]))
        at = _utc(row["LastRecord"])
        out[key] = max(out.get(key, at), at)
    return out


def _utc(value: Any) -> _dt.datetime:
    """The SDK gives datetimes for ``datetime`` columns; text (ISO 8601) is read too."""
    if isinstance(value, str):
        value = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
