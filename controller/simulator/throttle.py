"""Fault injection rules (ARM's token buckets are controller.ratelimit.TokenBucket)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Fault:
    """One injection rule: answer ``status`` to the next ``times`` matching requests; or, with
    ``hang``, answer nothing for ``hang`` seconds, then handle them as usual."""

    operation: str  # operationId or "*"
    status: int
    times: int = 1
    retry_after: float | None = None
    code: str | None = None
    message: str | None = None
    hang: float | None = None
    remaining: int = field(init=False)
    fired: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.remaining = self.times

    def matches(self, operation: str) -> bool:
        return self.remaining != 0 and (self.operation == "*" or self.operation == operation)


DEFAULT_FAULT_CODES = {
    400: "BadRequest",
    404: "NotFound",
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}
