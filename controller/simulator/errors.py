"""Azure-shaped errors raised inside the simulator and turned into HTTP responses.

ARM and resource providers answer failures with
``{"error": {"code": ..., "message": ..., "target"?: ..., "details"?: [...]}}``
(common-types v2 ``ErrorResponse`` / ``ErrorDetail``).
"""

from __future__ import annotations

from typing import Any


class ArmError(Exception):
    """An error the simulator answers with instead of a success response."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        target: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.details = details or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target:
            err["target"] = self.target
        if self.details:
            err["details"] = self.details
        return {"error": err}


def detail(code: str, message: str, target: str | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {"code": code, "message": message}
    if target:
        d["target"] = target
    return d


def not_found(resource_type: str, name: str, resource_group: str | None) -> ArmError:
    where = f" under resource group '{resource_group}'" if resource_group else ""
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{resource_type}/{name}'{where} was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def invalid_payload(message: str, details: list[dict[str, Any]] | None = None) -> ArmError:
    return ArmError(400, "InvalidPayload", message, details=details)
