"""The cluster's collection status: what ``plan`` and ``doctor`` know, read the same way they
read it (Resource Manager for the plan and the machines, two Logs queries for freshness)."""

from __future__ import annotations

from ..doctor.freshness import DEFAULT_LOOKBACK
from ..doctor.checkup import verdicts_of
from ..doctor.output import columns_of
from ..doctor.workspace import ask_workspace
from ..reconcile import Reconciler
from .answers import CollectionStatus, MachineStatus, TimeRange, fit
from .workspace import Asking


def collection_status(reconciler: Reconciler, asking: Asking, max_bytes: int) -> CollectionStatus:
    now = asking.workspace.now()
    planned = reconciler.plan()
    # doctor's two steps, its queries through `asking` so the answer counts them
    judged = ask_workspace(asking.run, asking.workspace.customer_id, reconciler.components,
                           verdicts_of(reconciler, planned), now)
    verdicts, warnings = judged.verdicts, [judged.warning] if judged.warning else []
    tables = [c.table for c in reconciler.components]
    machines = []
    for v in verdicts:
        shown = columns_of(v, now)
        machines.append(MachineStatus(machine=shown["machine"], kind=v.machine.kind, role=shown["role"], ok=v.ok,
                                      causes=list(v.causes), fix=v.fix, heartbeat=shown["heartbeat"]))
    answer = CollectionStatus(
        converged=planned.plan.converged, plan=planned.plan.headline(),
        changes=[c.describe() for c in planned.plan.changes] + [f"skipped {s.kind} {s.name}: {s.reason}" for s in planned.plan.skipped],
        machines=sorted(machines, key=lambda m: (m.ok, m.machine)), unable_to_send=sum(not v.ok for v in verdicts),
        warnings=warnings, time_range=TimeRange(start=now - DEFAULT_LOOKBACK, end=now),
    )
    answer.source = asking.source()
    answer.source.tables = ["Heartbeat", *tables]
    answer.source.other = ["Resource Manager: the plan (as `plan`) and the machines (as `doctor`)"]
    fit(answer, max_bytes, "cut to max_bytes (machines that can't send come first): `slurm-log-controller doctor --json` "
                           "and `plan` give all")
    return answer

