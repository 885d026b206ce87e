"""SIGKILL the daemon during a cold start, restart it, and compare with a run never killed.

The daemon is `python -m controller.cli run`, a child process; the simulator serves it from this
process's threads. A kill point is "the nth request the daemon sends that changes or waits on
Azure" (a write, or a poll of a table's creation), drawn from a seeded generator, and whether that
request reached Azure before the kill (its answer lost) or not. The kill comes from inside the
simulator while the request is in flight, with the daemon's other writes in flight too
(APPLY_CONCURRENCY) and table creations pending: the kill always lands mid-write. Azure runs an
accepted table creation to its end whoever polls it (`sim.lro_seconds`).

The daemon is killed again and again in one cold start until it converges, in fresh worlds until
enough kills were made. At the end: the same resources, in the same state, as the run never
killed; nothing of ours more (no orphan), no rule associated twice with a machine (no
duplicate), no write to what isn't ours, no table operation left running.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable

from controller.simulator import ArmSimulator, SimResponse

from .world import RG, build_sim, cli, duplicates, environ, foreign_writes, machines_state, ours, serving

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAST_POINT = 24  # a cold start here sends 56 writes and its tables' polls: points within the first 24 of each run
VOLATILE = {"etag", "systemData", "immutableId", "lastPlanModifiedDate"}
LRO_POLLS = ("OperationStatuses_Get", "OperationResults_Get")
DAEMON_ENV = {"RECONCILE_INTERVAL": "1", "RECONCILE_JITTER": "0", "METRICS_PORT": "0", "APPLY_CONCURRENCY": "4"}


@dataclass(frozen=True)
class Workload:
    """What the daemon is doing when it is killed: the world it starts from and how it runs. A new
    capability that writes (remediation) adds a row to WORKLOADS."""

    name: str
    build: Callable[[], ArmSimulator]  # the world before the first start
    argv: tuple[str, ...] = ("run",)
    env: dict[str, str] = field(default_factory=dict)
    last_point: int = LAST_POINT  # kill points are drawn from the first this many writes and polls


def _cold_world() -> ArmSimulator:
    """Nothing of ours yet: a cold start writes 56 resources."""
    sim = build_sim()
    sim.lro_polls = 3  # table creations stay pending for a few polls: kills land while they run
    sim.lro_seconds = 2.0
    sim.set_latency(write=0.05)  # writes overlap: several are in flight at every kill
    return sim


def _remediation_world() -> ArmSimulator:
    """Two nodearrays made without the agent (a Uniform one, a Flexible one), associated by a
    pass with remediation off: the next pass's writes are remediation's alone (2 models, 3
    members' agents, 1 upgrade, and their polls)."""
    sim = build_sim()
    tags = dict(sim.get(sim.cluster.vmss_ids["hpc"])["tags"])
    for name, mode in (("gpu", "Uniform"), ("viz", "Flexible")):
        tags["CycleCloudNodeArray"] = tags["CycleCloudNodeArray"].rsplit("/", 1)[0] + "/" + name
        sim.scale(sim.add_vmss(RG, f"slurm1-{name}", mode, 0, tags=dict(tags)), 3)
    with serving(sim):
        assert cli("run", "--once").code == 0
    sim.set_latency(write=0.05)
    return sim


COLD_START = Workload("cold start", _cold_world)
REMEDIATION = Workload("remediation", _remediation_world, env={"INSTALL_AGENT": "true", "UPGRADE_INSTANCES": "true"},
                       last_point=8)
WORKLOADS = [COLD_START, REMEDIATION]


@dataclass(frozen=True)
class KillPoint:
    nth: int  # the nth write or table-operation poll the daemon sends
    landed: bool  # that request reached Azure (its answer is lost) or not


@dataclass(frozen=True)
class Kill:
    point: KillPoint
    operation: str  # the request in flight at the kill
    tables_pending: int  # table operations running on Azure's side at the kill


@dataclass
class CrashRun:
    kills: list[Kill]
    restarts_to_converge: int
    same_as_uninterrupted: bool
    orphans: list[str]
    missing: list[str]
    duplicates: list
    foreign_writes: list
    operations_left: int
    final_exit: int
    log_tail: str = ""

    @property
    def problems(self) -> list[str]:
        found = []
        if not self.same_as_uninterrupted:
            found.append(f"final state differs: missing {self.missing[:3]}, orphans {self.orphans[:3]}")
        if self.duplicates:
            found.append(f"duplicates: {self.duplicates}")
        if self.foreign_writes:
            found.append(f"wrote to what isn't ours: {self.foreign_writes}")
        if self.operations_left:
            found.append(f"{self.operations_left} table operations left running")
        if self.final_exit != 0:
            found.append(f"the last daemon exited {self.final_exit} on SIGTERM")
        return found


def kill_points(seed: int, count: int, last_point: int = LAST_POINT) -> list[KillPoint]:
    rng = random.Random(seed)
    return [KillPoint(rng.randint(1, last_point), rng.random() < 0.5) for _ in range(count)]


def _stable(value):
    """A resource without what Azure regenerates on every write (etags, timestamps, ids it makes)."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def final_state(sim) -> dict[str, object]:
    return {**{rid: _stable(body) for rid, body in ours(sim).items()}, **machines_state(sim)}


def uninterrupted_state(workload: Workload) -> dict[str, dict]:
    """What a run never killed ends with: one pass of the same command, in the same world."""
    sim = workload.build()
    with serving(sim), environ(**workload.env):
        assert cli(*workload.argv, "--once").code == 0
        sim.complete_operations()
        return final_state(sim)


class _Daemon:
    def __init__(self, workload: Workload, logdir: str, n: int):
        self.log = open(os.path.join(logdir, f"daemon{n}.log"), "w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "controller.cli", *workload.argv],
            env={**os.environ, **DAEMON_ENV, **workload.env, "PYTHONPATH": REPO},
            stdout=self.log, stderr=subprocess.STDOUT,
        )

    def tail(self) -> str:
        self.log.seek(0)
        return self.log.read()[-3000:]


def _arm_kill(sim, daemon: _Daemon, point: KillPoint, kills: list[Kill]):
    seen = 0

    def maybe_kill(request):
        nonlocal seen
        if request.method == "GET" and request.operation not in LRO_POLLS:
            return None
        seen += 1
        if seen != point.nth or daemon.proc.poll() is not None:
            return None
        kills.append(Kill(point, request.operation, sim.pending_operations()))
        daemon.proc.send_signal(signal.SIGKILL)
        daemon.proc.wait()
        return None if point.landed else SimResponse(503, {"error": {"code": "ServiceUnavailable", "message": "never handled"}})

    sim.clear_hooks()
    sim.hook("*", maybe_kill)


def crash_run(workload: Workload, points: list[KillPoint], reference: dict[str, dict],
              converge_timeout: float = 60) -> CrashRun:
    """One run of the workload, killed at each of `points` in turn (a point past the run's end
    kills nothing and ends the series), then a daemon left to converge and stopped with SIGTERM."""
    sim = workload.build()
    kills: list[Kill] = []
    with serving(sim), tempfile.TemporaryDirectory(prefix="crash-") as logdir:
        restarts = 0
        for point in points:
            daemon = _Daemon(workload, logdir, restarts)
            _arm_kill(sim, daemon, point, kills)
            deadline = time.monotonic() + converge_timeout
            while daemon.proc.poll() is None and final_state(sim) != reference and time.monotonic() < deadline:
                time.sleep(0.05)
            if daemon.proc.poll() is None:  # converged before the point was reached: stop here
                sim.clear_hooks()
                break
            restarts += 1
        else:
            sim.clear_hooks()
            daemon = _Daemon(workload, logdir, restarts)
        reads = sim.reads()  # the daemon reads only once it handles SIGTERM: one sent sooner kills it
        deadline = time.monotonic() + converge_timeout
        while (final_state(sim) != reference or sim.pending_operations() or sim.reads() == reads) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        daemon.proc.send_signal(signal.SIGTERM)
        final_exit = daemon.proc.wait(timeout=30)
        state = final_state(sim)
        return CrashRun(
            kills=kills,
            restarts_to_converge=restarts,
            same_as_uninterrupted=state == reference and cli("plan").code == 0,
            orphans=sorted(set(state) - set(reference)),
            missing=sorted(set(reference) - set(state)),
            duplicates=duplicates(sim),
            foreign_writes=foreign_writes(sim),
            operations_left=sim.pending_operations(),
            final_exit=final_exit,
            log_tail=daemon.tail(),
        )


def crash_runs(total_kills: int, seed: int = 0, workload: Workload = COLD_START) -> list[CrashRun]:
    """Runs of the workload, each killed until it converges, until `total_kills` kills were made."""
    reference = uninterrupted_state(workload)
    runs, rng = [], random.Random(seed)
    while sum(len(r.kills) for r in runs) < total_kills:
        left = total_kills - sum(len(r.kills) for r in runs)
        runs.append(crash_run(workload, kill_points(rng.randrange(2**32), min(left, 8), workload.last_point), reference))
    return runs
