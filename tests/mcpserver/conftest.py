"""A simulated workspace holding real Slurm 22.05 logs (tests/kql/data: the job archive's test
cluster, jobs 1-10) and the archive files of its job 4, whose script printed 4,002 lines."""

import pathlib

import pytest

from tests.mcpserver.session import server
from tests.mcpserver.workspace_fill import feed

DATA = pathlib.Path(__file__).resolve().parents[1] / "kql" / "data"
LARGE_JOB = 4  # large.sh: FIRST-LINE, 4000 numbered lines, LAST-LINE
LARGE_OUTPUT = ["FIRST-LINE"] + [f"line {i} " + "0123456789" * 7 for i in range(4000)] + ["LAST-LINE"]


@pytest.fixture
def filled(sim, azure):
    hpc = sim.list("Microsoft.Compute/virtualMachineScaleSets/virtualMachines")[0]["id"]
    feed(sim, {
        sim.cluster.scheduler_vm_id: {
            "/var/log/slurmctld/slurmctld.log": (DATA / "slurmctld.log").read_text().splitlines(),
            f"/shared/slurm-logs/job_{LARGE_JOB}.sjatest.out": LARGE_OUTPUT,
            f"/shared/slurm-logs/job_{LARGE_JOB}.sjatest.sh": ["#!/bin/sh", "echo FIRST-LINE"],
        },
        hpc: {"/var/log/slurmd/slurmd.log": (DATA / "slurmd.log").read_text().splitlines()},
    })
    return sim


@pytest.fixture
def mcp(filled):
    return server()
