"""Turn what Azure says into one line that names the resource and the fix."""

from __future__ import annotations

from contextlib import contextmanager

from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

from ..errors import UserError

_FIXES = {
    401: "the credential was refused: check `az login`, the managed identity, or AZURE_CLOUD/ARM_ENDPOINT",
    403: "permission denied: grant the controller's identity Monitoring Contributor and Log Analytics "
    "Contributor on the resource group (Reader on the cluster's resource groups)",
    404: "not found: check the resource's name, resource group and SUBSCRIPTION_ID",
}


def arm_json(model) -> dict:
    """An SDK model as the JSON ARM sent (camelCase keys), whichever generation of SDK made it."""
    return model.serialize(keep_readonly=True) if hasattr(model, "serialize") else model.as_dict()


def describe(exc: Exception) -> str:
    if isinstance(exc, HttpResponseError):
        code = getattr(exc.error, "code", None) if exc.error else None
        message = (exc.error.message if exc.error and exc.error.message else str(exc.message or exc)).splitlines()[0]
        return f"{exc.status_code} {code or exc.reason}: {message}"
    if isinstance(exc, ClientAuthenticationError):
        return f"no Azure credential: {str(exc).splitlines()[0]}"
    return f"{type(exc).__name__}: {exc}"


@contextmanager
def reading(what: str):
    """Failures to read are user-fixable (credential, permission, a wrong name): say which and how."""
    try:
        yield
    except ClientAuthenticationError as exc:
        raise UserError(
            f"{what}: no Azure credential ({str(exc).splitlines()[0][:200]}): run `az login`, "
            "or give the VM/pod a managed/workload identity"
        ) from None
    except ServiceRequestError as exc:  # after azure-core's own retries
        raise UserError(
            f"{what}: cannot reach Azure Resource Manager ({str(exc).splitlines()[0][:200]}): check "
            "AZURE_CLOUD / ARM_ENDPOINT, DNS, and HTTPS_PROXY if a proxy is needed"
        ) from None
    except HttpResponseError as exc:
        fix = _FIXES.get(exc.status_code)
        if fix is None:
            raise
        raise UserError(f"{what}: {describe(exc)}; {fix}") from None
