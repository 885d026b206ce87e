"""Offline: write each DCR's, table's and workspace function's ARM request body, the DCRs in the
layout DCR_LAYOUT names."""

from __future__ import annotations

import json
from pathlib import Path

from .components import Component
from .desired import Target, parsed_table_for, rules_of_layout, table_for
from .functions import desired_functions
from .settings import Layout


def _write(path: Path, body: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=2) + "\n")
    return path


def render(components: tuple[Component, ...], target: Target, out: Path, layout: Layout = Layout.PER_COMPONENT) -> list[Path]:
    """DIR/data-collection-rules/<folder>/<dcr>.json (for `az monitor data-collection rule create
    --rule-file`; the folder is the component's group, or under the per-role layout the role),
    DIR/tables/<table>.json (the body of a table PUT), raw and parsed, and DIR/functions/<name>.json
    (the body of a saved search PUT)."""
    written = []
    group_of = {c.rule: c.group.value for c in components}
    for rule, roles, _ in rules_of_layout(components, target, layout):
        folder = group_of[rule.name] if layout is Layout.PER_COMPONENT else roles[0].value
        written.append(_write(out / "data-collection-rules" / folder / f"{rule.name}.json", rule.body()))
    for component in components:
        for table in (table_for(component, target), parsed_table_for(component, target)):
            written.append(_write(out / "tables" / f"{table.name}.json", table.body()))
    for function in desired_functions(components, target.workspace_id, target.cluster_name):
        written.append(_write(out / "functions" / f"{function.name}.json", function.body()))
    return written
