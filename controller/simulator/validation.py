"""Checks every simulated provider shares: tags, resource group names, column types.

The provider-specific rules are in :mod:`.insights_rules` (DCRs, associations) and
:mod:`.operationalinsights_rules` (tables). Each rule names its source: Microsoft's OpenAPI specs
(``/work/shared/azure-rest-specs``) or the service-side checks Azure documents on top of them
(``/work/shared/notes/azure-facts.md`` names the pages). Read-only properties in a request body
are ignored, as ARM does.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import ArmError

#: resource group names (ARM: 1-90 letters, digits, '-', '_', '.', '(' and ')').
RESOURCE_GROUP_RE = re.compile(r"^[-\w._()]{1,90}$")


def column_type_key(column_type: Any) -> Any:
    """A column type as Azure compares it: the specs spell ``dateTime`` (tables) and ``datetime``
    (DCR streams), and the service accepts either casing in both (azure-facts.md, "Column types");
    other types are compared as spelled."""
    if isinstance(column_type, str) and column_type.lower() == "datetime":
        return "datetime"
    return column_type


def is_str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def validate_tags(tags: Any) -> dict[str, str] | None:
    if tags is None:
        return None
    if not isinstance(tags, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content was invalid: 'tags' must be an object.")
    if len(tags) > 50:
        raise ArmError(400, "InvalidTagCount", "A resource can have at most 50 tags.")
    for k, v in tags.items():
        if not isinstance(v, str):
            raise ArmError(
                400, "InvalidRequestContent",
                f"The request content was invalid: the value of tag '{k}' must be a string.",
            )
        if len(k) > 512 or len(v) > 256:
            raise ArmError(400, "InvalidTagNameOrValueLength", f"Tag '{k}' name or value is too long.")
    return dict(tags)
