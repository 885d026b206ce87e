"""Faults, hangs and ARM's own throttling, as a mixin of the simulator.

ARM's per-subscription token buckets (`request-limits-and-throttling`, see
``/work/shared/notes/azure-facts.md``): reads 250 + 25/s, writes 200 + 10/s and, separately,
deletes 200 + 10/s; a 429 carries ``Retry-After`` in whole seconds and every answer the
``x-ms-ratelimit-remaining-subscription-{reads,writes,deletes}`` of its bucket. The buckets are
``controller.ratelimit.TokenBucket``, the client's own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from ..ratelimit import TokenBucket
from .errors import ArmError
from .messages import SimResponse


@dataclass
class Fault:
    """One injection rule: answer ``status`` to the next ``times`` matching requests; or, with
    ``hang``, answer nothing for ``hang`` seconds, then handle them as usual; or, with ``reset``,
    drop the connection without handling them."""

    operation: str | tuple[str, ...]  # an operationId, several, or "*"
    status: int
    times: int = 1
    retry_after: float | None = None
    code: str | None = None
    message: str | None = None
    hang: float | None = None
    reset: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    details: list[dict[str, Any]] = field(default_factory=list)
    remaining: int = field(init=False)
    fired: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.remaining = self.times

    def matches(self, operation: str) -> bool:
        if self.remaining == 0:
            return False
        if isinstance(self.operation, tuple):
            return operation in self.operation
        return self.operation in ("*", operation)


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


def bucket_of(method: str) -> str:
    """Which of ARM's buckets a request draws on: deletes have their own."""
    if method == "DELETE":
        return "delete"
    return "write" if method in ("PUT", "PATCH", "POST") else "read"


class FaultsMixin:
    def _setup(self) -> None:
        super()._setup()
        self._faults: list[Fault] = []
        self._hangs_released = threading.Event()
        self._buckets: dict[str, TokenBucket] | None = None
        self._throttle_scale = 1.0

    def _add_fault(self, fault: Fault) -> Fault:
        with self._count_lock:
            self._faults.append(fault)
        return fault

    def inject(
        self,
        operation: str = "*",
        status: int = 500,
        times: int = 1,
        retry_after: float | None = None,
        code: str | None = None,
        message: str | None = None,
    ) -> Fault:
        """Answer the next ``times`` requests of ``operation`` (an operationId, or ``"*"``) with
        ``status`` and an Azure error body; ``times=-1`` means until :meth:`clear_faults`."""
        return self._add_fault(Fault(operation, status, times, retry_after, code, message))

    def hang(self, operation: str = "*", seconds: float = 30.0, times: int = 1) -> Fault:
        """The next ``times`` requests of ``operation`` get no answer for ``seconds`` (a hung
        backend or proxy: the client's read timeout fires first), then are handled as usual;
        :meth:`clear_faults` lets them go at once."""
        return self._add_fault(Fault(operation, status=0, times=times, hang=seconds))

    def reset_connections(self, operation: str = "*", times: int = 1) -> Fault:
        """The next ``times`` requests of ``operation`` are not handled: the connection is reset
        (TCP RST, no answer), as a proxy or load balancer that drops it does."""
        return self._add_fault(Fault(operation, status=0, times=times, reset=True))

    def clear_faults(self) -> None:
        with self._count_lock:
            self._faults.clear()
            released, self._hangs_released = self._hangs_released, threading.Event()
        released.set()

    def emulate_arm_throttling(
        self,
        write_burst: float = 200,
        write_rate: float = 10,
        read_burst: float = 250,
        read_rate: float = 25,
        scale: float = 1.0,
        *,
        delete_burst: float = 200,
        delete_rate: float = 10,
    ) -> None:
        """Per-subscription token buckets like ARM's: reads, writes and deletes each their own.

        An empty bucket answers 429 ``SubscriptionRequestsThrottled`` with ``Retry-After`` (whole
        seconds, at least 1, as ARM sends) and is counted in ``sim.throttled[operation]``.
        ``scale`` stretches time: refill rates are divided by it, so ``scale=0.01`` refills
        100 times faster (bursts are unchanged), and sub-second waits are then announced with
        ``retry-after-ms``.
        """
        if scale <= 0:
            raise ValueError("scale must be > 0")
        self._throttle_scale = scale
        self._buckets = {
            "write": TokenBucket(write_burst, write_rate / scale),
            "read": TokenBucket(read_burst, read_rate / scale),
            "delete": TokenBucket(delete_burst, delete_rate / scale),
        }

    def stop_throttling(self) -> None:
        self._buckets = None

    def _throttle(self, op: str, method: str) -> dict[str, str]:
        buckets = self._buckets
        if buckets is None:
            return {}
        kind = bucket_of(method)
        ok, wait, remaining = buckets[kind].try_take()
        header = f"x-ms-ratelimit-remaining-subscription-{kind}s"
        if ok:
            return {header: str(remaining)}
        with self._count_lock:
            self.throttled[op] += 1
        raise ArmError(
            429, "SubscriptionRequestsThrottled",
            f"Number of '{kind}' requests for subscription '{self.subscription_id}' exceeded the limit. "
            f"Please try again after {max(1, int(wait + 0.999))} seconds.",
            headers={**self._retry_after_headers(wait, at_least_one=self._throttle_scale >= 1.0), header: "0"},
        )

    def _retry_after_headers(self, seconds: float, at_least_one: bool = False) -> dict[str, str]:
        """ARM sends whole seconds in ``Retry-After``. A sub-second wait (only in time-compressed
        emulation) is sent as ``retry-after-ms`` instead, which azure-core also honours; a zero
        ``Retry-After`` would make azure-core fall back to its 30 s default polling interval."""
        if at_least_one or seconds >= 1:
            return {"Retry-After": str(max(1, int(seconds + 0.999)))}
        return {"retry-after-ms": str(max(1, int(seconds * 1000 + 0.999)))}

    def _take_fault(self, op: str) -> SimResponse | None:
        with self._count_lock:
            for f in self._faults:
                if f.matches(op):
                    if f.remaining > 0:
                        f.remaining -= 1
                    f.fired += 1
                    break
            else:
                return None
            released = self._hangs_released
        if f.hang is not None:
            released.wait(f.hang)
            return None
        if f.reset:
            return SimResponse(0, reset=True)
        code = f.code or DEFAULT_FAULT_CODES.get(f.status, "Error")
        message = f.message or f"Injected fault: {f.status} {code} for {op}."
        headers = dict(f.headers)
        if f.retry_after is not None:
            headers.update(self._retry_after_headers(f.retry_after))
        if f.status == 429:
            with self._count_lock:
                self.throttled[op] += 1
        error: dict[str, Any] = {"code": code, "message": message}
        if f.details:
            error["details"] = f.details
        return SimResponse(f.status, {"error": error}, headers)
