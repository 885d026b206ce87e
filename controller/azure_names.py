"""Azure's rules for the names, ids and URLs a user types, as pure checks.

Each check returns what is wrong with a value, in words a user can act on, or None when nothing is.
Sources are named at each rule: the OpenAPI specs in /work/shared/azure-rest-specs (from
Azure/azure-rest-api-specs), Microsoft Learn's "Naming rules and restrictions for Azure resources"
(azure-resource-manager/management/resource-name-rules) and the Log Analytics docs.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import urlsplit

# ---- any text --------------------------------------------------------------------------------


def control_character(value: str) -> str | None:
    """A control character (newline, tab, NUL, DEL, C1, line/paragraph separators) has no place in a
    name, a file pattern or a description: it is a paste or encoding accident."""
    for position, char in enumerate(value):
        if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            return f"contains the control character {char!r} at position {position}: remove it"
    return None


def plain_text(value: str) -> str | None:
    problem = control_character(value)
    return f"{shown(value)} {problem}" if problem else None


def shown(value: str) -> str:
    """A value quoted for an error line: control characters escaped, so the line stays one line."""
    return repr(value) if control_character(value) else f"'{value}'"


# ---- ids and names ---------------------------------------------------------------------------

GUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def guid(value: str) -> str | None:
    """Subscription ids are GUIDs (8-4-4-4-12 hex digits)."""
    if GUID_RE.fullmatch(value):
        return None
    return f"{shown(value)} is not a GUID: use the subscription's id, like 00000000-0000-0000-0000-000000000000 (az account show --query id)"


# types.json (common-types v2) ResourceGroupNameParameter: pattern ^[-\w\._\(\)]+$, 1..90 characters
# (\w: Unicode letters and digits); resource-name-rules: "can't end with period".
RESOURCE_GROUP_RE = re.compile(r"[-\w.()]{1,90}")


def resource_group(value: str) -> str | None:
    if RESOURCE_GROUP_RE.fullmatch(value) and not value.endswith("."):
        return None
    return f"{shown(value)} is not a resource group name: use 1-90 letters, digits, '_', '-', '.', '(' or ')', not ending in '.'"


# resource-name-rules, Microsoft.OperationalInsights/workspaces: 4-63 alphanumerics and hyphens,
# starting and ending with an alphanumeric.
WORKSPACE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{2,61}[A-Za-z0-9]")


def workspace_name(value: str) -> str | None:
    if WORKSPACE_RE.fullmatch(value):
        return None
    return f"{shown(value)} is not a Log Analytics workspace name: use 4-63 letters, digits and '-', starting and ending with a letter or digit"


# A VM's or scale set's name inside an id: resource-name-rules gives Microsoft.Compute
# virtualMachines and virtualMachineScaleSets 1-64 characters (Linux), and warns that '#' breaks URL
# parsing; ARM splits ids on '/'. Compute enforces the finer rules itself.
RESOURCE_NAME_RE = re.compile(r"[^/\\?#%\s]{1,64}")


def resource_name(value: str) -> str | None:
    if RESOURCE_NAME_RE.fullmatch(value):
        return None
    return f"{shown(value)} is not an Azure resource name: use 1-64 characters without spaces, '/', '\\', '?', '#' or '%'"


VIRTUAL_MACHINE = ("Microsoft.Compute", "virtualMachines", "virtual machine", "az vm show -g <rg> -n <name> --query id")
SCALE_SET = ("Microsoft.Compute", "virtualMachineScaleSets", "scale set", "az vmss show -g <rg> -n <name> --query id")


def resource_id(value: str, kind: tuple[str, str, str, str]) -> str | None:
    """/subscriptions/<guid>/resourceGroups/<rg>/providers/<namespace>/<type>/<name>, the literal
    segments case-insensitive as ARM's are."""
    namespace, type_name, what, how = kind
    expected = f"/subscriptions/<subscription id>/resourceGroups/<resource group>/providers/{namespace}/{type_name}/<name>"
    parts = value.split("/")
    literals = ["", "subscriptions", "resourcegroups", "providers", namespace.lower(), type_name.lower()]
    shape = [parts[i].lower() for i in (0, 1, 3, 5, 6, 7)] if len(parts) == 9 else None
    if shape != literals:
        return f"{shown(value)} is not a {what}'s resource id: expected {expected} ({how})"
    for label, problem in (
        ("subscription", guid(parts[2])),
        ("resource group", resource_group(parts[4])),
        ("name", resource_name(parts[8])),
    ):
        if problem:
            return f"{shown(value)} is not a {what}'s resource id: its {label} {problem}"
    return None


def subscription_of(arm_id: str) -> str:
    return arm_id.split("/")[2]


def resource_group_of(arm_id: str) -> str:
    return arm_id.split("/")[4]


# tag-resources.md, Limitations: a tag value has at most 256 characters.
TAG_VALUE_MAX = 256


def tag_value(value: str) -> str | None:
    """Names the controller matches against, or writes as, a tag value (ClusterName, Name)."""
    if plain_text(value):
        return plain_text(value)
    if len(value) > TAG_VALUE_MAX:
        return f"'{value[:20]}...' is {len(value)} characters long: an Azure tag value has at most {TAG_VALUE_MAX}"
    return None


# ---- hosts and URLs --------------------------------------------------------------------------

# RFC 1123 section 2.1 host names: dot-separated labels of 1-63 letters, digits and hyphens, not
# starting or ending with a hyphen, at most 253 characters in all.
HOST_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def host(value: str) -> str | None:
    """An IPv4 or IPv6 address, or a host name."""
    try:
        ipaddress.ip_address(value)
        return None
    except ValueError:
        pass
    name = value[:-1] if value.endswith(".") else value
    if 0 < len(name) <= 253 and all(HOST_LABEL_RE.fullmatch(label) for label in name.split(".")):
        return None
    return f"{shown(value)} is not an IP address or host name"


def https_url(value: str) -> str | None:
    """An https URL of a host, with any path (a JWKS document, an MCP endpoint)."""
    if plain_text(value):
        return plain_text(value)
    try:
        url = urlsplit(value)
        url.port  # noqa: B018 (reading it raises on a port that is not a number)
    except ValueError:
        return f"{shown(value)} is not a URL: like https://login.microsoftonline.com/<tenant>/discovery/v2.0/keys"
    if url.scheme.lower() != "https" or not url.hostname:
        return f"{shown(value)} is not an https URL: like https://login.microsoftonline.com/<tenant>/discovery/v2.0/keys"
    return None


def https_endpoint(value: str) -> str | None:
    """An https URL of a host (and a port 1..65535), with no path, query or fragment: the SDK
    appends each request's path to it."""
    fix = "like https://management.azure.com"
    if plain_text(value):  # urlsplit would silently drop tabs and newlines
        return f"{plain_text(value)}: {fix}"
    try:
        url = urlsplit(value)
        port = url.port
    except ValueError as exc:  # a port that is not a number in 0..65535, a bad IPv6 literal
        return f"{shown(value)} is not a URL ({'port' if 'port' in str(exc).lower() else 'host'} is not valid): {fix}"
    if url.scheme.lower() != "https":
        return f"{shown(value)} is not an https URL: {fix}"
    if not url.hostname or host(url.hostname) or url.username is not None:
        return f"{shown(value)} does not name a host: {fix}"
    if port == 0 or (port is None and url.netloc.endswith(":")):
        return f"{shown(value)} has no valid port (1..65535): {fix}"
    if url.path not in ("", "/") or url.query or url.fragment or value.endswith(("?", "#")):
        return f"{shown(value)} has a path, query or fragment: give only the scheme, host and port, {fix}"
    return None


# ---- Log Analytics retention -----------------------------------------------------------------

# logs/data-retention-configure.md: interactive retention 4..730 days; total retention 4..730 days
# or one of these long-term values (3..12 years).
RETENTION_DAYS = range(4, 731)
LONG_TERM_TOTAL_DAYS = (1095, 1460, 1826, 2191, 2556, 2922, 3288, 3653, 4018, 4383)
# logs/logs-table-plans.md: a Basic table's interactive retention is fixed at 30 days.
BASIC_RETENTION_DAYS = 30


def interactive_retention(days: int) -> str | None:
    if days in RETENTION_DAYS:
        return None
    return f"{days} days is out of range: use 4..730"


def total_retention(days: int) -> str | None:
    if days in RETENTION_DAYS or days in LONG_TERM_TOTAL_DAYS:
        return None
    return f"{days} days is not a total retention Azure offers: use 4..730 or one of {', '.join(map(str, LONG_TERM_TOTAL_DAYS))}"


# ---- names Azure derives from the config -----------------------------------------------------

# The specs set no pattern for these names (Tables.json, dataCollectionRules_API.json and
# dataCollectionRuleAssociations_API.json leave them plain strings); the rules are the service's as
# the simulator models them (controller/simulator/operationalinsights_rules.py, insights_rules.py):
# custom tables a letter first, letters, digits and '_', ending in _CL, at most 63; DCR and
# association names 1-64 letters, digits, '-', '_' and '.', starting with a letter or digit.
TABLE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,59}_CL")
RULE_OR_ASSOCIATION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def table_name(value: str) -> str | None:
    if TABLE_RE.fullmatch(value):
        return None
    return f"table name {shown(value)} is not valid: a letter, then letters, digits and '_', ending in _CL, at most 63 characters"


def _rule_or_association(what: str, value: str) -> str | None:
    if RULE_OR_ASSOCIATION_RE.fullmatch(value):
        return None
    if len(value) > 64:
        return f"{what} {shown(value)} is {len(value)} characters: Azure allows at most 64"
    return f"{what} {shown(value)} is not valid: letters, digits, '-', '_' or '.', starting with a letter or digit"


def rule_name(value: str) -> str | None:
    return _rule_or_association("DCR name", value)


def association_name(value: str) -> str | None:
    return _rule_or_association("association name", value)
