"""Plan: desired + observed + policy -> the changes to make (pure; no Azure here).

Modelled on external-dns's plan and `terraform plan`: a plain value that prints, serialises to
JSON and compares in tests. Only what we own is ever updated or deleted.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from .desired import DesiredState
from .resources import Association, DataCollectionRule, Resource, SavedSearch, Table, key, same_region
from .settings import Policy

CREATE, UPDATE, DELETE = "create", "update", "delete"
KINDS = ("table", "dcr", "association", "function")
# What remediation changes on the machines (controller/remediation.py): written, never "in sync".
REMEDIATION_KINDS = ("agent", "upgrade")
SYMBOL = {CREATE: "+", UPDATE: "~", DELETE: "-"}


@dataclass(frozen=True)
class ObservedState:
    tables: tuple[Table, ...] = ()
    rules: tuple[DataCollectionRule, ...] = ()
    associations: tuple[Association, ...] = ()
    functions: tuple[SavedSearch, ...] = ()


@dataclass(frozen=True)
class PlanPolicy:
    cluster_name: str
    mode: Policy = Policy.UPSERT_ONLY
    allow_table_delete: bool = False
    # Owners whose resources we take over (ADOPT): None is "no ownership mark", else a cluster name.
    adopt: frozenset[str | None] = frozenset()


def owner_label(owner: str | None) -> str:
    return f"cluster {owner}" if owner else "nobody"


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
    adopted_from: str | None = None  # an update that takes over a resource: its former owner, labelled

    @property
    def kind(self) -> str:
        return self.resource.kind

    @property
    def id(self) -> str:
        return self.resource.id

    def describe(self) -> str:
        # Remediation's resources say more than their name: "(scale set model)", "(3 instances)".
        return f"{SYMBOL[self.action]} {self.kind} {getattr(self.resource, 'label', self.resource.name)}"


@dataclass(frozen=True)
class Skip:
    """A resource with the name we want that isn't ours: left as is, and what needs it waits."""

    kind: str
    id: str
    reason: str
    owner: str | None = None  # the cluster whose mark it carries; None: no mark at all
    fields: tuple[FieldChange, ...] = ()
    withheld: int = 0  # changes of ours that need it (a DCR into its table, associations to it)

    @property
    def name(self) -> str:
        return self.id.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...] = ()
    skipped: tuple[Skip, ...] = ()
    in_sync: dict[str, int] = field(default_factory=dict)
    # Ours, no longer wanted, and kept because the policy doesn't delete (upsert-only, tables).
    kept: tuple[Resource, ...] = ()
    notes: tuple[str, ...] = ()
    placements: dict[str, tuple[str, bool]] = field(default_factory=dict)  # see Cluster.placements

    @property
    def empty(self) -> bool:
        return not self.changes

    @property
    def converged(self) -> bool:
        """Azure is as configured: nothing to change and nothing with our names in the way."""
        return not self.changes and not self.skipped

    def counts(self) -> Counter:
        return Counter(c.action for c in self.changes)

    # How a plan reads: plan_output.py (text, terraform style; JSON with a schema).
    def render(self, colour: bool = False, machines_shown: int = 5) -> str:
        from .plan_output import render_text

        return render_text(self, colour, machines_shown)

    def headline(self) -> str:
        from .plan_output import headline

        return headline(self)

    def to_dict(self) -> dict[str, Any]:
        from .plan_output import plan_document

        return plan_document(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def diff(desired: Resource, observed: Resource) -> tuple[FieldChange, ...]:
    want, have = desired.spec(), observed.spec()
    return tuple(
        FieldChange(path, have.get(path), value)
        for path, value in want.items()
        if value is not None and value != have.get(path)
    )


def _owner(resource: Resource) -> str | None:
    return None if isinstance(resource, Association) else resource.owner


def _owned(resource: Resource, policy: PlanPolicy) -> bool:
    """Ours, or adopted: associations are ours by their name prefix (they carry no tags)."""
    if isinstance(resource, Association):
        return resource.owned or None in policy.adopt
    return resource.owner == policy.cluster_name or resource.owner in policy.adopt


def _blocked(have: Resource, fields: tuple[FieldChange, ...]) -> Skip:
    owner = _owner(have)
    if owner:
        why = f"carries the ownership mark of cluster {owner}, not this one"
        fix = f"set ADOPT=cluster:{owner} to take it over (that cluster is gone, or its name was a typo)"
    else:
        why = "has our name but no ownership mark (made by hand, by the reference scripts, or from `render`)"
        fix = "set ADOPT=unowned to take it over"
    differs = [f.path for f in fields if f.path not in ("owner", "tags")]
    also = f"; differs in {', '.join(differs)}" if differs else ""
    return Skip(have.kind, have.id, f"{why}{also}: left as is; {fix}", owner, fields)


def _elsewhere(want: DataCollectionRule, have: DataCollectionRule) -> str:
    """A DCR must be in its workspace's region (Azure refuses another) and can't move in place."""
    if same_region(want.location, have.location):
        return ""
    return (
        f"is in {have.location} but its workspace in {want.location}: Azure refuses a DCR outside its workspace's "
        "region and can't move one; delete it (its associations go with it) and the next pass makes it anew"
    )


def _plan_kind(desired, observed, policy: PlanPolicy, may_delete: bool, identity) -> tuple[list, list, int, list]:
    """Creates, updates and deletes for one kind, what is in the way, and what we own but keep.
    `identity` says when two resources are the same one."""
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
        if isinstance(want, DataCollectionRule) and _owned(have, policy) and _elsewhere(want, have):
            skipped.append(Skip(have.kind, have.id, _elsewhere(want, have), _owner(have)))
        elif not fields:
            in_sync += 1
        elif _owned(have, policy):
            if isinstance(want, (DataCollectionRule, SavedSearch)):
                want = want.as_update_of(have)
            mine = isinstance(have, Association) or _owner(have) == policy.cluster_name
            changes.append(Change(UPDATE, want, fields, None if mine else owner_label(_owner(have))))
        else:
            skipped.append(_blocked(have, fields))
    unwanted = [have for ident, have in seen.items() if ident not in wanted and _owned(have, policy)]
    if may_delete:
        return changes + [Change(DELETE, have) for have in unwanted], skipped, in_sync, []
    return changes, skipped, in_sync, unwanted


def _tables_of(rule: DataCollectionRule) -> tuple[str, ...]:
    return tuple(key(t) for t in rule.tables)


def _withhold(planned: tuple, blocked: dict[str, str], needs) -> tuple[tuple, Counter]:
    """Drop the creates and updates that need a blocked resource (we don't write into or onto what
    isn't ours), counting them against the blocked resource at the root."""
    changes, skipped, in_sync, kept = planned
    remaining, withheld = [], Counter()
    for change in changes:
        roots = [blocked[n] for n in needs(change.resource) if n in blocked] if change.action != DELETE else []
        root = roots[0] if roots else None
        if root is None:
            remaining.append(change)
        else:
            withheld[root] += 1
    return (remaining, skipped, in_sync, kept), withheld


def _tables_with_second_signal(observed: ObservedState, cluster: str) -> tuple[Table, ...]:
    """A table's ownership mark lives in its description, which Azure may drop or refuse to update
    (Azure/azure-powershell#26777). A table that a DCR of ours writes into is ours too: we never
    make a DCR write into a table that isn't (plan_changes holds such DCRs back). Its mark isn't
    written again, so a description Azure won't update can't make an update every pass."""
    fed = {t for r in observed.rules if r.owner == cluster for t in _tables_of(r)}
    return tuple(
        replace(t, owner=cluster) if t.owner is None and key(t.id) in fed else t for t in observed.tables
    )


def plan_changes(desired: DesiredState, observed: ObservedState, policy: PlanPolicy) -> Plan:
    sync = policy.mode is Policy.SYNC
    by_id = lambda r: key(r.id)  # noqa: E731
    observed_tables = _tables_with_second_signal(observed, policy.cluster_name)
    tables = _plan_kind(desired.tables, observed_tables, policy, sync and policy.allow_table_delete, by_id)
    rules = _plan_kind(desired.rules, observed.rules, policy, sync, by_id)
    # A table in the way holds back the DCR that would write into it; a DCR in the way (or held
    # back) its associations. Each is counted against the resource in the way.
    blocked = {key(s.id): key(s.id) for s in tables[1]}
    rules, withheld = _withhold(rules, blocked, _tables_of)
    blocked.update({key(r.id): blocked[t] for r in desired.rules for t in reversed(_tables_of(r)) if t in blocked})
    blocked.update({key(s.id): key(s.id) for s in rules[1]})
    # An association is "this rule on that machine": one made by hand under another name counts.
    # Associations to unowned rules are none of our business, so only ours are candidates to delete.
    ours = {key(r.id) for r in desired.rules} | {key(r.id) for r in observed.rules if _owned(r, policy)}
    observed_links = [a for a in observed.associations if key(a.rule_id) in ours]
    associations = _plan_kind(desired.associations, observed_links, policy, sync, lambda a: a.link)
    associations, withheld_links = _withhold(associations, blocked, lambda a: (key(a.rule_id),))
    withheld.update(withheld_links)
    # A function is known by its alias, the name queries call: one made by hand under another
    # id is in the way (or, adopted, updated where it is).
    functions = _plan_kind(desired.functions, observed.functions, policy, sync, lambda f: f.function_alias.lower())

    ordered: list[Change] = []
    skipped: list[Skip] = []
    kept: list[Resource] = []
    for changes, skips, _, keeps in (tables, rules, associations, functions):
        ordered.extend(c for c in changes if c.action != DELETE)
        skipped.extend(replace(s, withheld=withheld[key(s.id)]) for s in skips)
        kept.extend(keeps)
    # Deletes go last and in reverse: associations before their rule, rules before their table.
    for changes, _, _, _ in (functions, associations, rules, tables):
        ordered.extend(c for c in changes if c.action == DELETE)
    in_sync = {kind: n for kind, (_, _, n, _) in zip(KINDS, (tables, rules, associations, functions))}
    return Plan(tuple(ordered), tuple(skipped), in_sync, tuple(kept), desired.notes, desired.placements)
