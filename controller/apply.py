"""Apply a plan: tables -> DCRs -> associations (deletes in reverse), bounded and concurrent.

One failed change does not stop the others, only those that depend on it. Retries of throttled
(429, Retry-After) and 5xx requests happen in azure-core's pipeline, not again here.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from azure.core.exceptions import HttpResponseError

from .azure.errors import describe, missing_permission
from .plan import CREATE, DELETE, UPDATE, Change, Plan
from .remediation import InstanceUpgrade
from .resources import Association, DataCollectionRule, key

APPLIED, FAILED, SKIPPED = "applied", "failed", "skipped"
STOPPED = "shutting down"  # the detail of a change skipped because the apply was told to stop
HELD_BACK = "held back: a DCR or association of this pass was not written; deleted once it is"
# What makes a machine collect: none of it is deleted in a pass whose creates of it fell short.
_COVERAGE = ("association", "dcr")
_GONE = "its machine is gone (scaled in before we got to it)"
# Writes of a phase finish before the next phase starts: a DCR needs its table, an association its DCR.
PHASES = (
    ("table", (CREATE, UPDATE)),
    ("dcr", (CREATE, UPDATE)),
    ("association", (CREATE, UPDATE)),
    ("function", (CREATE, UPDATE)),
    ("function", (DELETE,)),
    # Remediation (never deletes): the agent on a scale set's model before its instances' upgrade.
    ("agent", (CREATE, UPDATE)),
    ("upgrade", (UPDATE,)),
    ("association", (DELETE,)),
    ("dcr", (DELETE,)),
    ("table", (DELETE,)),
)


@dataclass(frozen=True)
class ChangeResult:
    change: Change
    outcome: str
    detail: str = ""


@dataclass(frozen=True)
class ApplyResult:
    results: tuple[ChangeResult, ...] = ()

    @property
    def failed(self) -> list[ChangeResult]:
        return [r for r in self.results if r.outcome == FAILED]

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def left(self) -> list[Change]:
        """The changes not started because the apply was stopped (SIGTERM, Ctrl-C)."""
        return [r.change for r in self.results if r.outcome == SKIPPED and r.detail == STOPPED]

    def render(self) -> str:
        # What a stop left undone is counted, not listed: after a cold start's Ctrl-C it can be thousands.
        reported = [r for r in self.results if not (r.outcome == SKIPPED and r.detail == STOPPED)]
        counts = {o: sum(r.outcome == o for r in reported) for o in (APPLIED, SKIPPED, FAILED)}
        headline = f"Applied {counts[APPLIED]}, skipped {counts[SKIPPED]}, failed {counts[FAILED]}."
        if self.left:
            headline += f" Not started (stopped): {len(self.left)}."
        lines = [headline]
        lines += [f"  {r.outcome}: {r.change.describe()}: {r.detail}" for r in reported if r.outcome != APPLIED]
        return "\n".join(lines)


def _depends_on(change: Change) -> set[str]:
    """The ids of the resources a create/update needs first."""
    resource = change.resource
    if change.action == DELETE:
        return set()
    if isinstance(resource, DataCollectionRule):
        return {key(t) for t in resource.tables}
    if isinstance(resource, Association):
        return {key(resource.rule_id)}
    if isinstance(resource, InstanceUpgrade) and resource.after:
        return {key(resource.after)}
    return set()


def _outcome_of_error(change: Change, exc: HttpResponseError) -> tuple[str, str]:
    """Races are normal while a cluster scales: they are not failures."""
    if exc.status_code == 404 and change.action == DELETE:
        return APPLIED, "already gone"
    if exc.status_code == 404 and isinstance(change.resource, (Association, InstanceUpgrade)):
        return SKIPPED, _GONE
    if exc.status_code == 409:
        return SKIPPED, f"conflict ({describe(exc)}); retried next pass"
    if exc.status_code == 403:
        return FAILED, f"{describe(exc)}; {missing_permission(exc)}"
    return FAILED, describe(exc)


def _coverage_short(results: list[ChangeResult]) -> bool:
    """A DCR or association create/update that didn't land (a machine scaled in needs none)."""
    return any(
        r.change.kind in _COVERAGE and r.change.action != DELETE and r.outcome != APPLIED and r.detail != _GONE
        for r in results
    )


def apply_plan(
    plan: Plan,
    adapters,
    concurrency: int = 8,
    stop: threading.Event | None = None,
    on_result: Callable[[ChangeResult], None] | None = None,
) -> ApplyResult:
    """`stop` set (SIGTERM): changes in flight finish, the rest are skipped. `on_result` hears
    each change as it ends (metrics, liveness)."""
    by_kind = {
        "table": adapters.tables, "dcr": adapters.rules, "association": adapters.associations,
        "function": adapters.functions, "agent": adapters.agents, "upgrade": adapters.upgrades,
    }
    broken: set[str] = set()  # ids whose change failed: what depends on them is skipped
    results: list[ChangeResult] = []

    def run(change: Change) -> ChangeResult:
        if stop is not None and stop.is_set():
            return ChangeResult(change, SKIPPED, STOPPED)
        if _depends_on(change) & broken:
            return ChangeResult(change, SKIPPED, "what it depends on failed")
        adapter = by_kind[change.kind]
        try:
            adapter.delete(change.resource) if change.action == DELETE else adapter.put(change.resource)
        except HttpResponseError as exc:
            return ChangeResult(change, *_outcome_of_error(change, exc))
        except Exception as exc:  # one change's surprise must not stop the rest
            return ChangeResult(change, FAILED, describe(exc))
        return ChangeResult(change, APPLIED)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for kind, actions in PHASES:
            batch = [c for c in plan.changes if c.kind == kind and c.action in actions]
            if kind in _COVERAGE and DELETE in actions and _coverage_short(results):
                # Switching DCR_LAYOUT: the old DCRs go only once the new ones cover every machine.
                batch_results = [ChangeResult(c, SKIPPED, HELD_BACK) for c in batch]
            else:
                batch_results = pool.map(run, batch)
            for result in batch_results:
                results.append(result)
                if on_result:
                    on_result(result)
                if result.outcome != APPLIED:
                    broken.add(key(result.change.id))
    return ApplyResult(tuple(results))
