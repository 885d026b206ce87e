"""Plan: desired + observed + policy -> the changes to make (pure; no Azure here).

Modelled on external-dns's plan and `terraform plan`: a plain value that prints, serialises to
JSON and compares in tests. Only what we own is ever updated or deleted.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .desired import DesiredState
from .resources import Association, DataCollectionRule, Resource, Table, key
from .settings import Policy

CREATE, UPDATE, DELETE = "create", "update", "delete"
KINDS = ("table", "dcr", "association")
_SYMBOL = {CREATE: "+", UPDATE: "~", DELETE: "-"}


@dataclass(frozen=True)
class ObservedState:
    tables: tuple[Table, ...] = ()
    rules: tuple[DataCollectionRule, ...] = ()
    associations: tuple[Association, ...] = ()


@dataclass(frozen=True)
class PlanPolicy:
    cluster_name: str
    mode: Policy = Policy.UPSERT_ONLY
    allow_table_delete: bool = False


@dataclass(frozen=True)
class FieldChange:
    path: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Change:
    action: str
    resource: Resource  # the desired one for create/update, the observed one for delete
    fields: tuple[FieldChange, ...] = ()

    @property
    def kind(self) -> str:
        return self.resource.kind

    @property
    def id(self) -> str:
        return self.resource.id

    def describe(self) -> str:
        return f"{_SYMBOL[self.action]} {self.kind} {self.resource.name}"


@dataclass(frozen=True)
class Skip:
    """Something we would change but may not, because we don't own it."""

    kind: str
    id: str
    reason: str


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...] = ()
    skipped: tuple[Skip, ...] = ()
    in_sync: dict[str, int] = field(default_factory=dict)
    # Ours, no longer wanted, and kept because the policy doesn't delete (upsert-only, tables).
    kept: tuple[Resource, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.changes

    def counts(self) -> Counter:
        return Counter(c.action for c in self.changes)

    def to_dict(self) -> dict[str, Any]:
        counts = self.counts()
        return {
            "summary": {action: counts.get(action, 0) for action in (CREATE, UPDATE, DELETE)},
            "in_sync": {kind: self.in_sync.get(kind, 0) for kind in KINDS},
            "changes": [
                {
                    "action": c.action,
                    "kind": c.kind,
                    "name": c.resource.name,
                    "id": c.id,
                    "fields": [{"path": f.path, "old": f.old, "new": f.new} for f in c.fields],
                }
                for c in self.changes
            ],
            "skipped": [{"kind": s.kind, "id": s.id, "reason": s.reason} for s in self.skipped],
            "kept": [{"kind": r.kind, "id": r.id} for r in self.kept],
            "notes": list(self.notes),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def render(self, machines_shown: int = 5) -> str:
        """Terraform style. A cold start at 2,000 nodes is 10,000 associations: per DCR and action,
        the first `machines_shown` machines are named and the rest counted (`--json` has them all)."""
        lines = []
        shown: Counter = Counter()
        for change in self.changes:
            if change.kind == "association":
                group = (change.action, change.resource.name)
                shown[group] += 1
                if shown[group] <= machines_shown:
                    lines.append(f"  {change.describe()}  (on {change.resource.target_id.rsplit('/', 1)[-1]})")
                continue
            lines.append(f"  {change.describe()}")
            lines.extend(f"        {f.path}: {json.dumps(f.old)} -> {json.dumps(f.new)}" for f in change.fields)
        lines.extend(
            f"  {_SYMBOL[action]} association {name}  ... and {n - machines_shown} more machines"
            for (action, name), n in shown.items()
            if n > machines_shown
        )
        lines.extend(f"  ! {s.kind} {s.id.rsplit('/', 1)[-1]}: {s.reason}" for s in self.skipped)
        lines.extend(f"  ! {note}" for note in self.notes)
        if self.kept:
            lines.append(f"  ({len(self.kept)} resources of ours are no longer wanted: POLICY=sync would delete them)")
        return "\n".join([self.headline(), *lines])

    def headline(self) -> str:
        counts = self.counts()
        in_sync = ", ".join(f"{self.in_sync.get(k, 0)} {k}" for k in KINDS)
        if self.empty:
            return f"No changes: Azure matches the configuration. In sync: {in_sync}."
        return (
            f"Plan: {counts.get(CREATE, 0)} to create, {counts.get(UPDATE, 0)} to update, "
            f"{counts.get(DELETE, 0)} to delete. In sync: {in_sync}."
        )


def diff(desired: Resource, observed: Resource) -> tuple[FieldChange, ...]:
    want, have = desired.spec(), observed.spec()
    return tuple(
        FieldChange(path, have.get(path), value)
        for path, value in want.items()
        if value is not None and value != have.get(path)
    )


def _owned(resource: Resource, cluster: str) -> bool:
    return resource.owned if isinstance(resource, Association) else resource.owner == cluster


def _plan_kind(desired, observed, policy: PlanPolicy, may_delete: bool, identity) -> tuple[list, list, int, list]:
    """Creates, updates and deletes for one kind, and what we own but keep. `identity` says when two
    resources are the same one."""
    changes, skipped, in_sync = [], [], 0
    seen = {identity(r): r for r in observed}
    wanted = set()
    for want in desired:
        wanted.add(identity(want))
        have = seen.get(identity(want))
        if have is None:
            changes.append(Change(CREATE, want))
            continue
        fields = diff(want, have)
        if not fields:
            in_sync += 1
        elif _owned(have, policy.cluster_name):
            if isinstance(want, DataCollectionRule):
                want = want.as_update_of(have)
            changes.append(Change(UPDATE, want, fields))
        else:
            paths = ", ".join(f.path for f in fields)
            skipped.append(Skip(want.kind, have.id, f"differs ({paths}) but is not owned by this cluster: left as is"))
    unwanted = [have for ident, have in seen.items() if ident not in wanted and _owned(have, policy.cluster_name)]
    if may_delete:
        return changes + [Change(DELETE, have) for have in unwanted], skipped, in_sync, []
    return changes, skipped, in_sync, unwanted


def plan_changes(desired: DesiredState, observed: ObservedState, policy: PlanPolicy) -> Plan:
    sync = policy.mode is Policy.SYNC
    by_id = lambda r: key(r.id)  # noqa: E731
    tables = _plan_kind(desired.tables, observed.tables, policy, sync and policy.allow_table_delete, by_id)
    rules = _plan_kind(desired.rules, observed.rules, policy, sync, by_id)
    # An association is "this rule on that machine": one made by hand under another name counts.
    # Associations to unowned rules are none of our business, so only ours are candidates to delete.
    ours = {key(r.id) for r in desired.rules} | {key(r.id) for r in observed.rules if _owned(r, policy.cluster_name)}
    observed_links = [a for a in observed.associations if key(a.rule_id) in ours]
    associations = _plan_kind(desired.associations, observed_links, policy, sync, lambda a: a.link)

    ordered: list[Change] = []
    skipped: list[Skip] = []
    kept: list[Resource] = []
    for changes, skips, _, keeps in (tables, rules, associations):
        ordered.extend(c for c in changes if c.action != DELETE)
        skipped.extend(skips)
        kept.extend(keeps)
    # Deletes go last and in reverse: associations before their rule, rules before their table.
    for changes, _, _, _ in (associations, rules, tables):
        ordered.extend(c for c in changes if c.action == DELETE)
    in_sync = {kind: n for kind, (_, _, n, _) in zip(KINDS, (tables, rules, associations))}
    return Plan(tuple(ordered), tuple(skipped), in_sync, tuple(kept), desired.notes)
