"""A pass for people: the plan first, then the apply with its progress, and after Ctrl-C what was
applied and what is left.

Progress goes to stderr: a bar on a terminal, a plain line every so often elsewhere (the journal,
CI). The ETA is ours, not tqdm's: the first ARM_WRITE_BURST writes go out as fast as Azure answers
them and the rest at ARM_WRITES_PER_SECOND, so a rate observed during the burst would promise
minutes for a quarter of an hour. The write bucket knows the floor; the observed rate covers
Azure's latency; the ETA is the larger of the two.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import replace
from typing import Callable

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from .apply import APPLIED, FAILED, SKIPPED, STOPPED, ApplyResult, ChangeResult, apply_plan
from .plan import DELETE, KINDS, REMEDIATION_KINDS, Change, Plan
from .plan_output import colour_for
from .ratelimit import TokenBucket
from .reconcile import Pass, Reconciler

LINE_EVERY = 10.0  # seconds between plain progress lines
_TICK = 0.25  # how often the bar's ETA is refreshed and a Ctrl-C is noticed
_BAR = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt}{postfix}"  # tqdm adds ", " before the postfix
_PLURAL = {
    "table": "tables", "dcr": "DCRs", "association": "associations", "function": "functions", "agent": "agents",
    "upgrade": "upgrades",
}


def about(seconds: float) -> str:
    if seconds < 60:
        return f"about {max(1, math.ceil(seconds))} s left"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min left"
    return f"about {minutes // 60} h {minutes % 60} min left"


class ApplyProgress:
    """Shows how far an apply of `total` changes is, from each change's result (`record`). `stop`
    is the apply's: `interrupt()` sets it and says so at once."""

    def __init__(
        self, total: int, writes: TokenBucket, stream=None, every: float = LINE_EVERY,
        deletes: int = 0, delete_bucket: TokenBucket | None = None,
    ):
        """`deletes` of the `total` changes draw on `delete_bucket` (ARM's own for deletes)."""
        self.total = total
        self.writes = writes
        self.deletes = deletes
        self.delete_bucket = delete_bucket or writes
        self.deletes_done = 0
        self.stop = threading.Event()
        self.stream = stream or sys.stderr
        self.every = every
        self.counts: Counter = Counter()  # by outcome; STOPPED for the changes a stop left undone
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._wake = threading.Event()  # the ticker's: a tick is due now
        self._bar: tqdm | None = None
        self._ticker = threading.Thread(target=self._tick, name="progress", daemon=True)

    def __enter__(self) -> ApplyProgress:
        if self.total:
            if self.stream.isatty():  # no colour: nothing for NO_COLOR to turn off
                self._bar = tqdm(total=self.total, file=self.stream, desc="applying", bar_format=_BAR,
                                 dynamic_ncols=True, mininterval=_TICK)
                # a log line (a retry, -v) goes above the bar instead of through it
                self._redirect = logging_redirect_tqdm()
                self._redirect.__enter__()
            self._ticker.start()
        return self

    def __exit__(self, *exc) -> None:
        if not self.total:
            return
        self._closed.set()
        self._wake.set()
        self._ticker.join()
        with self._lock:
            if self._bar:
                self._bar.set_postfix_str(self._tail(), refresh=False)
                self._bar.close()
                self._redirect.__exit__(None, None, None)
            else:
                self._print(self.line())

    def interrupt(self) -> None:
        self.stop.set()
        self._wake.set()

    def record(self, result: ChangeResult) -> None:
        stopped = result.outcome == SKIPPED and result.detail == STOPPED
        with self._lock:
            self.counts[STOPPED if stopped else result.outcome] += 1
            self.deletes_done += result.change.action == DELETE
            if self._bar and not stopped:
                self._bar.update()

    def line(self) -> str:
        """'applied 1200/10029, 0 failed, about 14 min left'"""
        return f"applied {self.counts[APPLIED]}/{self.total}, {self._tail()}"

    def eta(self) -> float | None:
        finished = self.counts[APPLIED] + self.counts[FAILED] + self.counts[SKIPPED]
        remaining = self.total - finished - self.counts[STOPPED]
        # one request per change; deletes come after the writes (apply's phases), from their own bucket
        deletes_left = min(remaining, max(0, self.deletes - self.deletes_done))
        floor = self.writes.seconds_for(remaining - deletes_left) + self.delete_bucket.seconds_for(deletes_left)
        if not finished:
            return floor or None
        observed = (time.monotonic() - self._started) / finished * remaining
        return max(floor, observed)

    def _tail(self) -> str:
        parts = [f"{self.counts[FAILED]} failed"]
        if self.counts[SKIPPED]:
            parts.append(f"{self.counts[SKIPPED]} skipped")
        if self.stop.is_set():
            parts.append("interrupted" if self._closed.is_set() else "interrupted: finishing the changes in flight")
        elif self._closed.is_set():
            parts.append(f"done in {time.monotonic() - self._started:.1f} s")
        elif (eta := self.eta()) is not None:
            parts.append(about(eta))
        return ", ".join(parts)

    def _tick(self) -> None:
        last_line = time.monotonic()
        stop_shown = False
        while True:
            self._wake.wait(_TICK)
            self._wake.clear()
            if self._closed.is_set():
                return
            with self._lock:
                if self._bar:
                    self._bar.set_postfix_str(self._tail())
                elif time.monotonic() - last_line >= self.every or (self.stop.is_set() and not stop_shown):
                    self._print(self.line())
                    last_line = time.monotonic()
                stop_shown = self.stop.is_set()

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


@contextmanager
def on_sigint(handler: Callable[[], None]):
    """Ctrl-C calls `handler` instead of raising KeyboardInterrupt. Its job is to stop the apply:
    the changes in flight finish, the rest are not started; a second Ctrl-C can't call back the
    writes in flight, so it changes nothing."""
    previous = signal.signal(signal.SIGINT, lambda signum, frame: handler())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def plan_then_apply(reconciler: Reconciler, on_result: Callable | None = None, every: float = LINE_EVERY) -> Pass:
    """Print the plan (stdout), then apply it with progress (stderr); see `result.left` for what a
    Ctrl-C left undone."""
    planned = reconciler.plan()
    print(planned.plan.render(colour_for(sys.stdout)), flush=True)
    total = len(planned.plan.changes)
    deletes = sum(c.action == DELETE for c in planned.plan.changes)
    limiter = reconciler.clients.limiter
    with ApplyProgress(total, limiter.writes, every=every, deletes=deletes, delete_bucket=limiter.deletes) as progress, \
            on_sigint(progress.interrupt):

        def heard(result: ChangeResult) -> None:
            progress.record(result)
            if on_result:
                on_result(result)

        result = apply_plan(planned.plan, reconciler.adapters, reconciler.settings.apply_concurrency, progress.stop, heard)
    return replace(planned, result=result)


def _by_kind(changes: list[Change]) -> str:
    counts = Counter(c.kind for c in changes)
    kinds = KINDS + tuple(k for k in REMEDIATION_KINDS if counts[k])  # remediation's only when there is some
    return ", ".join(f"{counts[kind]} {_PLURAL[kind]}" for kind in kinds)


def render_interrupted(plan: Plan, result: ApplyResult) -> str:
    """What a Ctrl-C leaves: applied and left counts per kind, and the plan that is left."""
    applied = [r.change for r in result.results if r.outcome == APPLIED]
    left = result.left
    in_sync = Counter(plan.in_sync) + Counter(c.kind for c in applied if c.action != DELETE)
    return "\n".join([
        f"Interrupted: applied {len(applied)} of {len(plan.changes)} changes ({_by_kind(applied)}); "
        f"{len(left)} left ({_by_kind(left)}), for the next run:",
        Plan(tuple(left), in_sync=dict(in_sync), placements=plan.placements).render(),
    ])
