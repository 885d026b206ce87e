"""Turn what Azure says into one line that names the resource and the fix."""

from __future__ import annotations

import re
from contextlib import contextmanager
from urllib.parse import unquote, urlsplit

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)

from ..errors import UserError

_FIXES = {
    401: "the credential was refused: check `az login`, the managed identity, or AZURE_CLOUD/ARM_ENDPOINT",
    404: "not found: check the resource's name, resource group and SUBSCRIPTION_ID",
}
_ANY_PERMISSION = (
    "grant the controller's identity Monitoring Contributor on RESOURCE_GROUP and the cluster's resource "
    "groups, Log Analytics Contributor on the workspace, and Reader on the cluster's resource groups"
)
# The role each provider's resources need; the controller writes them all, so Contributor even to read.
_ROLES = {
    "microsoft.operationalinsights": "Log Analytics Contributor",
    "microsoft.insights": "Monitoring Contributor",
    "microsoft.compute": "Reader",
}
# The resource group, and the provider of the last `/providers/` (an association's is Insights, on
# the VM it is written on, so its scope is the machine's resource group).
_ARM_PATH = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/(?P<group>[^/]+)(?:/.*)?"
    r"/providers/(?P<namespace>[^/]+)/(?P<type>[^/]+)(?:/(?P<name>[^/]+))?",
    re.IGNORECASE,
)
# DefaultAzureCredential's chain, as its error names it, in words a person knows.
_CREDENTIALS = {
    "Environment": "environment (AZURE_CLIENT_ID...)",
    "WorkloadIdentity": "workload identity",
    "ManagedIdentity": "managed identity",
    "SharedTokenCache": "shared token cache",
    "VisualStudioCode": "VS Code",
    "AzureCli": "Azure CLI",
    "AzurePowerShell": "Azure PowerShell",
    "AzureDeveloperCli": "Azure Developer CLI",
    "Broker": "broker",
}
NO_CREDENTIAL_FIX = (
    "on a VM enable its managed identity, on AKS the pod's workload identity, or run `az login` "
    "(-v shows why each one failed)"
)


def missing_permission(exc: HttpResponseError) -> str:
    """The role and the scope a 403 asks for, read off the refused request's URL."""
    request = getattr(exc.response, "request", None)
    found = _ARM_PATH.match(unquote(urlsplit(request.url).path)) if request is not None else None
    role = found and _ROLES.get(found["namespace"].lower())
    if not role:
        return _ANY_PERMISSION
    scope = f"resource group {found['group']}"
    if found["type"].lower() == "workspaces" and found["name"]:
        scope = f"workspace {found['name']} ({scope})"
    return f"grant the controller's identity {role} on {scope}"


def _credentials_tried(message: str) -> str:
    names = re.findall(r"^\s+(\w+?)Credential:", message, re.MULTILINE)
    return ", ".join(_CREDENTIALS.get(n, n) for n in names) or message.splitlines()[0][:200]


def describe(exc: Exception) -> str:
    if isinstance(exc, ClientAuthenticationError) and exc.response is None:  # no token: nothing reached ARM
        return f"no Azure credential: tried {_credentials_tried(str(exc))}; {NO_CREDENTIAL_FIX}"
    if isinstance(exc, HttpResponseError):
        code = getattr(exc.error, "code", None) if exc.error else None
        message = (exc.error.message if exc.error and exc.error.message else str(exc.message or exc)).splitlines()[0]
        if exc.status_code is not None and exc.status_code < 300:  # the status poll of a long-running operation
            return f"ended Failed: {code or 'no code'}: {message}"
        return f"{exc.status_code} {code or exc.reason}: {message}"
    if isinstance(exc, ServiceResponseTimeoutError):  # after azure-core's retries of the read
        return (
            f"Azure Resource Manager did not answer in time ({str(exc).splitlines()[0][:200]}); "
            "HTTP_READ_TIMEOUT sets how long to wait"
        )
    if isinstance(exc, ServiceResponseError):  # the connection dropped mid-answer (a reset, a proxy)
        return f"Azure Resource Manager broke off its answer ({str(exc).splitlines()[0][:200]}); the next pass tries again"
    return f"{type(exc).__name__}: {exc}"


@contextmanager
def reading(what: str):
    """Failures to read are user-fixable (credential, permission, a wrong name): say which and how."""
    try:
        yield
    except ClientAuthenticationError as exc:
        fix = f"; {_FIXES[401]}" if exc.response is not None else ""  # ARM refused the token we got
        raise UserError(f"{what}: {describe(exc)}{fix}") from None
    except ServiceRequestError as exc:  # after azure-core's own retries
        raise UserError(
            f"{what}: cannot reach Azure Resource Manager ({str(exc).splitlines()[0][:200]}): check "
            "AZURE_CLOUD / ARM_ENDPOINT, DNS, and HTTPS_PROXY if a proxy is needed"
        ) from None
    except HttpResponseError as exc:
        fix = missing_permission(exc) if exc.status_code == 403 else _FIXES.get(exc.status_code)
        if fix is None:
            raise
        raise UserError(f"{what}: {describe(exc)}; {fix}") from None
