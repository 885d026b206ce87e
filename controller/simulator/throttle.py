"""Token buckets (ARM's per-subscription request limits) and fault injection rules."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


class TokenBucket:
    """A token bucket: ``burst`` tokens, refilled at ``rate`` tokens per second."""

    def __init__(self, burst: float, rate: float, clock=time.monotonic) -> None:
        self.burst = float(burst)
        self.rate = float(rate)
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = threading.Lock()

    def take(self) -> tuple[bool, float, int]:
        """Take one token. Returns ``(allowed, seconds_until_a_token, remaining_tokens)``."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True, 0.0, int(self._tokens)
            wait = (1.0 - self._tokens) / self.rate if self.rate > 0 else float("inf")
            return False, wait, 0


@dataclass
class Fault:
    """One injection rule: answer ``status`` to the next ``times`` matching requests."""

    operation: str  # operationId or "*"
    status: int
    times: int = 1
    retry_after: float | None = None
    code: str | None = None
    message: str | None = None
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
