"""doctor's two steps over a reconcile pass, shared by the CLI, the daemon and the demo: the
verdicts from ARM's facts, then the same joined with what the workspace holds."""

from __future__ import annotations

import datetime as _dt

from ..apply import APPLIED
from ..azure.logs import LogsReader
from ..plan import REMEDIATION_KINDS
from ..reconcile import Pass, Reconciler
from .freshness import DEFAULT_LOOKBACK
from .machines import machine_facts, with_coverage
from .preflight import Verdict, preflight
from .workspace import Judged, ask_workspace, table_to_ask


def verdicts_of(reconciler: Reconciler, planned: Pass) -> list[Verdict]:
    """From the facts the plan read, unless remediation changed a machine since (or they couldn't be
    read): associations the apply wrote only change which machines are associated."""
    results = planned.result.results if planned.result is not None else ()
    changed = any(r.outcome == APPLIED and r.change.kind in REMEDIATION_KINDS for r in results)
    if planned.machines is not None and not changed:
        return preflight(with_coverage(planned.machines, planned))
    return preflight(machine_facts(reconciler.adapters.compute, planned, reconciler.settings.apply_concurrency))


def judged_by_workspace(reconciler: Reconciler, verdicts: list[Verdict], now: _dt.datetime,
                        lookback: _dt.timedelta = DEFAULT_LOOKBACK) -> Judged:
    reader = LogsReader.from_settings(reconciler.settings, reconciler.clients.credential)
    settings = reconciler.settings
    return ask_workspace(reader.query, reconciler.workspace.customer_id, reconciler.components, verdicts, now, lookback,
                         table_to_ask(settings.table_plan, settings.parsed_table_plan))
