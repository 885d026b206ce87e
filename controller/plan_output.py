"""How a plan reads: terraform-style text for people, versioned JSON (with a JSON Schema) for scripts.

A create shows what it will contain, an update the fields that differ, an adoption whose mark it
replaces; associations are grouped per DCR and, within it, by where the machines sit in the
cluster (scheduler, each scale set), naming a few machines and counting the rest.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from typing import Any, TextIO

from .plan import CREATE, DELETE, KINDS, SYMBOL, UPDATE, Change, Plan
from .remediation import AgentExtension, InstanceUpgrade
from .resources import Association, DataCollectionRule, LogFileSource, SavedSearch, Table, key

# Bumped when a field changes meaning or goes away; new fields may come without a bump.
FORMAT_VERSION = 1
_COLOURS = {CREATE: "32", UPDATE: "33", DELETE: "31", "!": "35"}  # green, yellow, red, magenta
_GONE = ("no longer in the cluster", True)


def schema() -> dict[str, Any]:
    """The JSON Schema of `plan --json`, shipped with the package."""
    return json.loads((resources.files("controller") / "data" / "plan.schema.json").read_text())


def colour_for(stream: TextIO) -> bool:
    """Colour on a terminal, unless NO_COLOR (no-color.org) or a dumb terminal says otherwise."""
    return stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _paint(text: str, code: str, colour: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if colour else text


def headline(plan: Plan) -> str:
    counts = plan.counts()
    in_sync = ", ".join(f"{plan.in_sync.get(k, 0)} {k}" for k in KINDS)
    blocked = len(plan.skipped)
    if plan.converged:
        return f"No changes: Azure matches the configuration. In sync: {in_sync}."
    in_the_way = f"; {blocked} in the way (not ours: see !)" if blocked else ""
    if plan.empty:
        return f"No changes can be made, but {blocked} resources with our names are not ours (see !). In sync: {in_sync}."
    adopted = sum(1 for c in plan.changes if c.adopted_from)
    adopting = f" ({adopted} adopted)" if adopted else ""
    return (
        f"Plan: {counts.get(CREATE, 0)} to create, {counts.get(UPDATE, 0)} to update{adopting}, "
        f"{counts.get(DELETE, 0)} to delete{in_the_way}. In sync: {in_sync}."
    )


def _source_content(source: LogFileSource, named: bool) -> list[tuple[str, str]]:
    return [
        *([("source", source.name)] if named else []),
        ("files", ", ".join(source.file_patterns)),
        ("stream", f"{source.input_stream} -> {source.output_stream} (transform: {source.transform_kql})"),
        *([("parsed", f"{source.input_stream} -> {source.parsed_stream} "
                      f"(transform: {len(source.parsed_transform_kql)} characters of KQL)")] if source.parsed_stream else []),
        *([("records", f"multiline: a record starts at a line beginning {source.record_start_format}")]
          if source.record_start_format else []),
    ]


def _content(resource) -> list[tuple[str, str]]:
    """What a create will contain, in the words of the reference document."""
    if isinstance(resource, Table):
        total = resource.total_retention_days or resource.retention_days
        return [
            ("columns", ", ".join(f"{n}:{t}" for n, t in resource.columns)),
            ("plan", f"{resource.plan}, retention {resource.retention_days} days (total {total})"),
            ("owner", f"cluster {resource.owner}"),
        ]
    if isinstance(resource, DataCollectionRule):
        several = len(resource.sources) > 1
        return [
            *(line for source in resource.sources for line in _source_content(source, several)),
            ("workspace", resource.workspace_id.rsplit("/", 1)[-1]),
            ("location", f"{resource.location} (kind {resource.kind_})"),
        ]
    if isinstance(resource, SavedSearch):
        return [
            ("call", f"{resource.function_alias}({resource.function_parameters})"),
            ("what", resource.display_name),
            ("workspace", resource.workspace_id.rsplit("/", 1)[-1]),
        ]
    if isinstance(resource, AgentExtension):
        return [
            ("extension", f"{resource.extension_name} ({resource.spec()['publisher']}/{resource.spec()['type']})"),
            ("identity", resource.identity_text()),
        ]
    return []


def _machines(names: list[str], shown: int) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _association_lines(action: str, rule: str, changes: list[Change], plan: Plan, shown: int) -> list[str]:
    by_place: dict[tuple[str, bool], list[str]] = {}
    for change in changes:
        target = change.resource.target_id
        by_place.setdefault(plan.placements.get(key(target), _GONE), []).append(target.rsplit("/", 1)[-1])
    noun = "target" if len(changes) == 1 else "targets"
    lines = [f"{SYMBOL[action]} association {rule} on {len(changes)} {noun}"]
    for (place, of_members), names in by_place.items():
        lines.append(f"      {place}: {_machines(names, shown)}" if of_members else f"      {place}")
    return lines


def render_text(plan: Plan, colour: bool = False, machines_shown: int = 5) -> str:
    lines = [headline(plan)]

    def block(action: str, body: list[str]) -> None:
        lines.append("  " + _paint(body[0], _COLOURS[action], colour))
        lines.extend("  " + line for line in body[1:])

    grouped: dict[tuple[str, str], list[Change]] = {}
    for change in plan.changes:
        if isinstance(change.resource, Association):
            grouped.setdefault((change.action, change.resource.name), []).append(change)
            continue
        header = change.describe() + (f"  (adopted: was owned by {change.adopted_from})" if change.adopted_from else "")
        body = [header]
        if change.action == CREATE:
            body += [f"      {name}: {value}" for name, value in _content(change.resource)]
        if isinstance(change.resource, InstanceUpgrade):
            body.append(f"      instances: {', '.join(change.resource.instance_ids)}")
        body += [f"      {f.path}: {json.dumps(f.old)} -> {json.dumps(f.new)}" for f in change.fields]
        block(change.action, body)
    for (action, rule), changes in grouped.items():
        block(action, _association_lines(action, rule, changes, plan, machines_shown))
    for skip in plan.skipped:
        waits = f" ({skip.withheld} changes of ours wait for it)" if skip.withheld else ""
        block("!", [f"! {skip.kind} {skip.name}: {skip.reason}{waits}"])
    for note in plan.notes:
        block("!", [f"! {note}"])
    if plan.kept:
        lines.append(f"  ({len(plan.kept)} resources of ours are no longer wanted: POLICY=sync would delete them)")
    return "\n".join(lines)


def _change_document(change: Change, plan: Plan) -> dict[str, Any]:
    resource = change.resource
    document = {
        "action": change.action,
        "kind": change.kind,
        "name": resource.name,
        "id": change.id,
        "fields": [{"path": f.path, "old": f.old, "new": f.new} for f in change.fields],
        "adopted_from": change.adopted_from,
        # What the resource will be (the compared fields): none for a delete.
        "content": resource.spec() if change.action != DELETE else None,
    }
    if isinstance(resource, Association):
        document["target"] = resource.target_id
        document["placement"] = plan.placements.get(key(resource.target_id), _GONE)[0]
    if isinstance(resource, AgentExtension):
        document["target"] = resource.target_id
    if isinstance(resource, InstanceUpgrade):
        document["target"] = resource.vmss_id
    return document


def plan_document(plan: Plan) -> dict[str, Any]:
    """`plan --json`: see data/plan.schema.json."""
    counts = plan.counts()
    return {
        "format_version": FORMAT_VERSION,
        "converged": plan.converged,
        "summary": {
            **{action: counts.get(action, 0) for action in (CREATE, UPDATE, DELETE)},
            "adopt": sum(1 for c in plan.changes if c.adopted_from),
            "blocked": len(plan.skipped),
        },
        "in_sync": {kind: plan.in_sync.get(kind, 0) for kind in KINDS},
        "changes": [_change_document(c, plan) for c in plan.changes],
        "skipped": [
            {
                "kind": s.kind,
                "id": s.id,
                "name": s.name,
                "owner": s.owner,
                "reason": s.reason,
                "withheld": s.withheld,
                "fields": [{"path": f.path, "old": f.old, "new": f.new} for f in s.fields],
            }
            for s in plan.skipped
        ],
        "kept": [{"kind": r.kind, "id": r.id} for r in plan.kept],
        "notes": list(plan.notes),
    }

