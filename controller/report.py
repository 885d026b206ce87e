"""Report: what a pass leaves behind, as counts for people and Prometheus (pure).

States are those after the pass: a change that was applied counts as in sync; one that failed or
was skipped still counts as missing (create), drifted (update) or orphaned (delete).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .apply import APPLIED, ApplyResult
from .components import Role
from .plan import CREATE, DELETE, KINDS, UPDATE, Plan
from .resources import Association, Cluster, key

STATES = ("in_sync", "missing", "drifted", "orphaned")
ROLES = tuple(role.value for role in Role)  # the metrics export every one, machines or not
_STATE_OF = {CREATE: "missing", UPDATE: "drifted", DELETE: "orphaned"}


@dataclass(frozen=True)
class Report:
    resources: dict[tuple[str, str], int]  # (kind, state) -> count, every pair present
    nodes: dict[tuple[str, bool], int]  # (role, covered) -> nodes, every pair present
    uncovered: frozenset[str]  # machines (VM or VMSS ids, lower case) missing an association
    reached: frozenset[str]  # machines that got an association in this pass

    def line(self) -> str:
        drift = sum(n for (_, state), n in self.resources.items() if state != "in_sync")
        nodes = sum(self.nodes.values())
        covered = sum(n for (_, ok), n in self.nodes.items() if ok)
        return f"{drift} resources out of sync; {covered}/{nodes} machines covered"


def summarize(plan: Plan, cluster: Cluster, result: ApplyResult | None = None) -> Report:
    outcome = {key(r.change.id): r.outcome for r in result.results} if result else {}
    done = lambda change: outcome.get(key(change.id)) == APPLIED  # noqa: E731

    resources = Counter({(kind, state): 0 for kind in KINDS for state in STATES})
    for kind, n in plan.in_sync.items():
        resources[(kind, "in_sync")] += n
    for change in plan.changes:
        if done(change):
            resources[(change.kind, "in_sync")] += change.action != DELETE
        else:
            resources[(change.kind, _STATE_OF[change.action])] += 1
    for skip in plan.skipped:
        resources[(skip.kind, "drifted")] += 1
    for kept in plan.kept:
        resources[(kept.kind, "orphaned")] += 1

    to_associate = [c for c in plan.changes if c.action == CREATE and isinstance(c.resource, Association)]
    uncovered = frozenset(key(c.resource.target_id) for c in to_associate if not done(c))
    reached = frozenset(key(c.resource.target_id) for c in to_associate) - uncovered

    machines = [(role, target, n) for role in ROLES for target, n in cluster.targets_of(role).items()]
    nodes = Counter({(role, ok): 0 for role in ROLES for ok in (True, False)})
    for role, machine, count in machines:
        nodes[(role, key(machine) not in uncovered)] += count
    return Report(dict(resources), dict(nodes), uncovered, reached)
