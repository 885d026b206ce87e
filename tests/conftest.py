"""Shared fixtures: a simulated Azure with a CycleCloud cluster, served over HTTPS."""

from __future__ import annotations

import pytest

from controller.simulator import ArmSimulator
from tests.support import RG, SUB


@pytest.fixture
def sim():
    simulator = ArmSimulator(subscription_id=SUB)
    simulator.add_workspace(resource_group=RG, name="logs", location="eastus")
    simulator.cluster = simulator.add_cyclecloud_cluster(
        resource_group=RG,
        cluster_name="slurm1",
        location="eastus",
        nodearrays={"hpc": ("Uniform", 3), "htc": ("Flexible", 2)},
    )
    return simulator


@pytest.fixture
def azure(sim, monkeypatch, tmp_path):
    """The simulator serving, and the environment a real deployment would have: settings plus the
    managed-identity variables that DefaultAzureCredential reads. Runs in an empty directory so a
    developer's own .env can't leak in."""
    monkeypatch.chdir(tmp_path)
    with sim.serve() as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        for name, value in {
            "SUBSCRIPTION_ID": SUB,
            "RESOURCE_GROUP": RG,
            "WORKSPACE_NAME": "logs",
            "CLUSTER_NAME": "slurm1",
            "VM_ID": sim.cluster.scheduler_vm_id,
        }.items():
            monkeypatch.setenv(name, value)
        yield server
