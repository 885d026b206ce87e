"""Offline: write each DCR's, table's and workspace function's ARM request body in the reference
document's layout."""

from __future__ import annotations

import json
from pathlib import Path

from .components import Component
from .desired import Target, parsed_table_for, rule_for, table_for
from .functions import desired_functions


def _write(path: Path, body: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=2) + "\n")
    return path


def render(components: tuple[Component, ...], target: Target, out: Path) -> list[Path]:
    """DIR/data-collection-rules/<group>/<pattern>_raw_dcr.json (for `az monitor data-collection rule
    create --rule-file`), DIR/tables/<table>.json (the body of a table PUT), raw and parsed, and
    DIR/functions/<name>.json (the body of a saved search PUT)."""
    written = []
    for component in components:
        rule = rule_for(component, target)
        written.append(_write(out / "data-collection-rules" / component.group.value / f"{rule.name}.json", rule.body()))
        for table in (table_for(component, target), parsed_table_for(component, target)):
            written.append(_write(out / "tables" / f"{table.name}.json", table.body()))
    for function in desired_functions(components, target.workspace_id, target.cluster_name):
        written.append(_write(out / "functions" / f"{function.name}.json", function.body()))
    return written
