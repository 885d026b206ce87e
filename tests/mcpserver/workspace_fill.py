"""Puts files' lines into the simulated workspace as the agent does: `run --once` makes the
tables and the DCRs (a raw and a parsed data flow per component) and associates them, then each
machine's lines go through its DCRs' transforms on the simulator's next tick."""

from __future__ import annotations

import datetime as _dt
import pathlib

from controller.cli import main

DATA = pathlib.Path(__file__).resolve().parents[1] / "kql" / "data"
LARGE_JOB = 4  # large.sh: FIRST-LINE, 4000 numbered lines, LAST-LINE
LARGE_OUTPUT = ["FIRST-LINE"] + [f"line {i} " + "0123456789" * 7 for i in range(4000)] + ["LAST-LINE"]


def real_logs(sim) -> dict[str, dict[str, list[str]]]:
    """Real Slurm 22.05 logs (tests/kql/data: the job archive's test cluster, jobs 1-10) and the
    archive files of its job 4, whose script printed 4,002 lines: ``feed``'s argument."""
    hpc = sim.list("Microsoft.Compute/virtualMachineScaleSets/virtualMachines")[0]["id"]
    return {
        sim.cluster.scheduler_vm_id: {
            "/var/log/slurmctld/slurmctld.log": (DATA / "slurmctld.log").read_text().splitlines(),
            f"/shared/slurm-logs/job_{LARGE_JOB}.sjatest.out": LARGE_OUTPUT,
            f"/shared/slurm-logs/job_{LARGE_JOB}.sjatest.sh": ["#!/bin/sh", "echo FIRST-LINE"],
        },
        hpc: {"/var/log/slurmd/slurmd.log": (DATA / "slurmd.log").read_text().splitlines()},
    }


def feed(sim, machines: dict[str, dict[str, list[str]]], at: _dt.datetime | None = None) -> int:
    """``machines``: machine id -> {file path: its lines}. ``at``: when the agent collects them
    (the time of lines that carry none; the simulator's clock by default). Returns the rows written."""
    assert main(["run", "--once"]) == 0, "run --once failed: the workspace can't be filled"
    for machine, files in machines.items():
        for path, lines in files.items():
            sim.append_lines(machine, path, lines)
    if at is None:
        return sim.tick()
    real = sim.clock
    sim.clock = lambda: at
    try:
        return sim.tick()
    finally:
        sim.clock = real
