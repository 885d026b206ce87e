"""The daemon: reconcile every interval (with jitter), back off after failures, stop cleanly.

Level-triggered like kopf: each pass reads the whole state again, so a missed event or a failed
pass costs one interval, never a lost node. SIGTERM/SIGINT let the change in flight finish, skip
the rest, and exit 0.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
from dataclasses import dataclass
from typing import Callable

from azure.core.exceptions import AzureError

from .azure.errors import describe
from .errors import SettingsError, UserError

log = logging.getLogger(__name__)


@dataclass
class LoopTiming:
    interval: float = 30.0
    jitter: float = 0.1  # fraction of the interval, so many controllers don't pulse together
    max_backoff: float = 600.0

    def delay(self, failures: int, rng: random.Random) -> float:
        doubled = self.interval * 2 ** min(failures, 32)  # a week of failures must not overflow
        base = self.interval if failures == 0 else min(doubled, max(self.max_backoff, self.interval))
        return base * (1 + rng.uniform(-self.jitter, self.jitter))


class Loop:
    def __init__(self, reconcile: Callable[[threading.Event], bool], timing: LoopTiming, seed: int | None = None):
        """`reconcile(stop)` runs one pass and says whether it succeeded; it should look at `stop`
        between changes."""
        self.reconcile = reconcile
        self.timing = timing
        self.stop = threading.Event()
        self.failures = 0
        self._rng = random.Random(seed)

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, frame: self.stop.set())

    def run(self) -> int:
        first = True
        while not self.stop.is_set():
            try:
                ok = self.reconcile(self.stop)
            except UserError as exc:  # permissions, a deleted workspace...: one line, retried
                if first and isinstance(exc, SettingsError):  # a cluster name typo: exit 2, nothing written
                    raise
                log.error("reconcile pass failed: %s", exc)
                ok = False
            except AzureError as exc:  # Azure's own trouble: its message is the story, not our stack
                log.error("reconcile pass failed: Azure: %s", describe(exc))
                ok = False
            except Exception:  # a failed pass is retried; it never kills the daemon
                log.exception("reconcile pass failed")
                ok = False
            first = False
            self.failures = 0 if ok else self.failures + 1
            delay = self.timing.delay(self.failures, self._rng)
            if not ok:
                log.warning("pass failed (%d in a row): next one in %.0f s", self.failures, delay)
            self.stop.wait(delay)
        log.info("stopped")
        return 0
