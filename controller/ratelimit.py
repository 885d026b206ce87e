"""Token buckets shaped like Azure Resource Manager's own limits.

ARM throttles per subscription and region with token buckets: writes 200 burst / 10 per second,
reads 250 burst / 25 per second, and deletes in a bucket of their own, 200 burst / 10 per second
(learn.microsoft.com azure-resource-manager request-limits-and-throttling). Waiting for a token here, before the request leaves, keeps the
controller from tripping 429 by itself; a 429 that comes anyway is retried by azure-core, which
honours Retry-After. The simulator refuses with the same bucket (`try_take`).
"""

from __future__ import annotations

import threading
import time

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class TokenBucket:
    """`burst` tokens, refilled at `rate` tokens per second."""

    def __init__(self, burst: float, rate: float, clock=time.monotonic, sleep=time.sleep):
        self.burst = float(burst)
        self.rate = float(rate)
        self._tokens = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._stamp = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def try_take(self) -> tuple[bool, float, int]:
        """Take a token if there is one: `(allowed, seconds until one, tokens left)` (ARM's side)."""
        with self._lock:
            self._refill()
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True, 0.0, int(self._tokens)
            wait = (1.0 - self._tokens) / self.rate if self.rate > 0 else float("inf")
            return False, wait, 0

    def take(self) -> float:
        """Take a token, waiting for it if need be; returns the seconds waited (the client's side)."""
        with self._lock:
            self._refill()
            self._tokens -= 1  # may go negative: the debt is this caller's wait, and queues later callers
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait:
            self._sleep(wait)
        return wait

    def seconds_for(self, count: int) -> float:
        """At least how long `count` more tokens take: those beyond the bucket's tokens (or behind
        its debt) come at the refill rate. A progress ETA: the burst goes fast, the rest can't."""
        with self._lock:
            self._refill()
            return max(0.0, count - self._tokens) / self.rate if self.rate > 0 else float("inf")


class ArmRateLimiter:
    """One per subscription, shared by every client: a request hook for azure-core's pipeline.
    A delete draws on ARM's delete bucket, not the write bucket: pruning a cluster's associations
    doesn't slow the writes of the same pass."""

    def __init__(self, write_burst=200, write_rate=10.0, read_burst=250, read_rate=25.0, delete_burst=200, delete_rate=10.0):
        self.writes = TokenBucket(write_burst, write_rate)
        self.reads = TokenBucket(read_burst, read_rate)
        self.deletes = TokenBucket(delete_burst, delete_rate)

    def bucket_for(self, method: str) -> TokenBucket:
        method = method.upper()
        if method == "DELETE":
            return self.deletes
        return self.reads if method in READ_METHODS else self.writes

    def before_request(self, request) -> None:
        self.bucket_for(request.http_request.method).take()
