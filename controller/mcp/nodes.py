"""A node's health: its agent's heartbeat and what each table holds of it (doctor's two
freshness queries), and its drains and errors (one more)."""

from __future__ import annotations

import datetime as _dt

from ..doctor.freshness import freshness
from ..doctor.preflight import SILENT_AFTER
from .answers import NodeHealth, TableCoverage, TimeRange, fit
from .rows import COLUMNS, Row
from .workspace import Asking, kql_string

EVENT_ROWS = 300
# slurmctld's words when it takes a node out: update_node's "reason set to", "not responding",
# "draining", and the prolog's "Prolog or job env setup failure ... draining the node".
_DRAIN_WORDS = ("drain", "not responding", "reason set to", "set DOWN", "unexpectedly rebooted")


def node_health(asking: Asking, node: str, hours: float, max_bytes: int) -> NodeHealth:
    now = asking.workspace.now()
    start = now - _dt.timedelta(hours=hours)
    catalog = asking.catalog
    fresh = freshness(asking.run, asking.workspace.customer_id, catalog.all_parsed, now,
                      lookback=_dt.timedelta(hours=hours))
    answer = NodeHealth(node=node, time_range=TimeRange(start=start, end=now), truncated=fresh.partial)
    answer.last_heartbeat = fresh.last_heartbeat(node)
    silent = fresh.silent(node, SILENT_AFTER)
    answer.agent = ("never seen" if answer.last_heartbeat is None else "silent" if silent else "sending")
    answer.coverage = [TableCoverage(table=t, last_record=fresh.last_record(node, t)) for t in catalog.all_parsed]
    ctld = catalog.parsed("slurmctld")
    own = catalog.parsed("slurmd", "dmesg", "syslog", "jetpack", "jetpackd", "healthagent")
    tables = ctld + own
    if tables:
        name = kql_string(node)
        controller_tables = ", ".join(kql_string(t) for t in ctld) or '""'
        found = asking.ask(
            f"union withsource=SourceTable {', '.join(tables)}\n"
            f"| where (Computer =~ {name} and Level in (\"fatal\", \"error\")) or "
            f"(SourceTable in ({controller_tables}) and Message contains {name})\n"
            f"| project {COLUMNS}\n| take {EVENT_ROWS + 1}", start, now, tables)
        rows = sorted((Row.of(r) for r in found.records()[:EVENT_ROWS]), key=lambda r: r.time or start)
        answer.truncated |= len(found.rows) > EVENT_ROWS or found.partial
        answer.drains = [r.line() for r in rows if r.table in ctld and any(w.lower() in r.message.lower() for w in _DRAIN_WORDS)]
        answer.errors = [r.line() for r in rows if r.table not in ctld or r.level in ("fatal", "error")]
    answer.source = asking.source()
    answer.source.tables = list(dict.fromkeys(["Heartbeat", *catalog.all_parsed, *answer.source.tables]))
    fit(answer, max_bytes, f"cut to {max_bytes} bytes: raise `max_bytes`, narrow `hours`, or run_kql on the tables in source")
    return answer
