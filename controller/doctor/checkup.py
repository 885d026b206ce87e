"""doctor's two steps over a reconcile pass, shared by the CLI, the daemon and the demo: the
verdicts from ARM's facts, then the same joined with what the workspace holds."""

from __future__ import annotations

import datetime as _dt

from ..apply import APPLIED
from ..azure.logs import LogsReader
from ..reconcile import Pass, Reconciler
from .freshness import DEFAULT_LOOKBACK
from .machines import machine_facts
from .preflight import Verdict, preflight
from .workspace import Judged, ask_workspace, table_to_ask


def verdicts_of(reconciler: Reconciler, planned: Pass) -> list[Verdict]:
    """From the facts the plan read, unless the apply may have changed them (or they couldn't be read)."""
    changed = planned.result is not None and any(r.outcome == APPLIED for r in planned.result.results)
    if planned.machines is not None and not changed:
        return preflight(list(planned.machines))
    return preflight(machine_facts(reconciler.adapters.compute, planned, reconciler.settings.apply_concurrency))


def judged_by_workspace(reconciler: Reconciler, verdicts: list[Verdict], now: _dt.datetime,
                        lookback: _dt.timedelta = DEFAULT_LOOKBACK) -> Judged:
    reader = LogsReader.from_settings(reconciler.settings, reconciler.clients.credential)
    settings = reconciler.settings
    return ask_workspace(reader.query, reconciler.workspace.customer_id, reconciler.components, verdicts, now, lookback,
                         table_to_ask(settings.table_plan, settings.parsed_table_plan))
