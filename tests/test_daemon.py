"""`slurm-log-controller run` as a real process: covers new nodes, survives failures, stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

SCHEDULER_DCRS, NODE_DCRS = 8, 5


def wait_for(condition, timeout: float, step: float = 0.05) -> float:
    """Seconds until condition() holds; fails the test after timeout."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"not within {timeout} s")
        time.sleep(step)
    return time.monotonic() - start


@pytest.fixture
def daemon(sim, azure, tmp_path):
    """Start the daemon with the test's environment; yields a function that starts it."""
    procs = []

    def start(**env):
        log = open(tmp_path / f"daemon{len(procs)}.log", "w+")
        proc = subprocess.Popen(
            [sys.executable, "-m", "controller.cli", "run"],
            # METRICS_PORT=0 (off) unless a test asks: the default 9480 may be taken on this machine.
            env={**os.environ, "RECONCILE_INTERVAL": "1", "RECONCILE_JITTER": "0", "METRICS_PORT": "0", **env},
            stdout=log, stderr=subprocess.STDOUT, text=True,
        )
        proc.log = log
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def output(proc) -> str:
    proc.log.seek(0)
    return proc.log.read()


def associations(sim) -> int:
    return len(sim.list("association"))


def expected(sim) -> int:
    flexible = len(sim.vmss_members(sim.cluster.vmss_ids["htc"]))
    return SCHEDULER_DCRS + NODE_DCRS * (1 + flexible)


def test_new_flexible_vms_are_covered_within_an_interval(sim, daemon):
    proc = daemon()
    wait_for(lambda: associations(sim) == expected(sim), timeout=30)
    sim.scale(sim.cluster.vmss_ids["htc"], 5)  # CycleCloud adds 3 VMs
    took = wait_for(lambda: associations(sim) == expected(sim), timeout=10)
    assert took < 1 + 5, output(proc)  # one interval plus a few seconds
    # steady state: passes keep running, with reads only
    sim.reset_calls()
    time.sleep(2.5)
    assert sim.writes() == 0 and sim.reads() > 0
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0, output(proc)


def test_a_failing_pass_is_retried_and_never_kills_the_daemon(sim, daemon):
    sim.inject("DataCollectionRules_ListByResourceGroup", status=403, times=2, code="AuthorizationFailed")
    proc = daemon()
    # two failed passes (1 s, then 2 s of backoff), then it converges
    wait_for(lambda: associations(sim) == expected(sim), timeout=30)
    assert proc.poll() is None
    log = output(proc)
    assert "403 AuthorizationFailed" in log and "Monitoring Contributor" in log and "2 in a row" in log
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


def test_sigterm_finishes_the_change_in_flight_and_exits_0(sim, daemon):
    sim.set_latency(write=0.3)
    proc = daemon(APPLY_CONCURRENCY="2")
    wait_for(lambda: sim.writes() >= 3, timeout=20)
    proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert proc.wait(timeout=10) == 0, output(proc)
    assert time.monotonic() - started < 3  # it did not finish the whole plan (dozens of 0.3 s writes)
    assert associations(sim) < expected(sim)
    assert "shutting down" in output(proc)


def test_a_cluster_that_is_not_there_ends_the_daemon_at_start_up(sim, daemon, monkeypatch):
    monkeypatch.delenv("VM_ID")
    proc = daemon(CLUSTER_NAME="slurm1x", METRICS_PORT="0")
    assert proc.wait(timeout=20) == 2, output(proc)
    assert "no machine tagged ClusterName=slurm1x" in output(proc)
    assert sim.writes() == 0
