"""The workspace as the tools ask it: each tool call is a :class:`Asking` that counts its Logs
queries, the bytes of their answers and the tables it read (its answer's ``source``)."""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from ..doctor.freshness import QueryResult, RunQuery
from .answers import Source
from .catalog import Catalog


def utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


@dataclass(frozen=True)
class Workspace:
    run: RunQuery
    customer_id: str
    catalog: Catalog
    now: Callable[[], _dt.datetime] = utc_now

    def asking(self) -> "Asking":
        return Asking(self)


@dataclass
class Asking:
    workspace: Workspace
    queries: int = 0
    bytes_read: int = 0
    tables: list[str] = field(default_factory=list)

    @property
    def catalog(self) -> Catalog:
        return self.workspace.catalog

    def ask(self, kql: str, start: _dt.datetime, end: _dt.datetime, tables: tuple[str, ...]) -> QueryResult:
        self.queries += 1  # counted when sent: a refused query costs one too
        result = self.workspace.run(self.workspace.customer_id, kql, (start, end))
        self.bytes_read += len(json.dumps(result.rows, default=str))
        self.tables += [t for t in tables if t not in self.tables]
        return result

    def run(self, customer_id: str, kql: str, timespan: tuple[_dt.datetime, _dt.datetime]) -> QueryResult:
        """``ask`` in the shape of :data:`..doctor.freshness.RunQuery`, for doctor's own queries."""
        return self.ask(kql, *timespan, tables=())

    def records(self, kql: str, start: _dt.datetime, end: _dt.datetime, tables: tuple[str, ...]) -> list[dict[str, Any]]:
        return self.ask(kql, start, end, tables).records()

    def source(self) -> Source:
        return Source(tables=list(self.tables), queries=self.queries, bytes_read=self.bytes_read)


def kql_string(text: str) -> str:
    """A KQL string literal (double-quoted, backslash escapes)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
