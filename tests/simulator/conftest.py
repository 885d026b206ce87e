"""A simulator serving over HTTPS with the three real SDK clients attached (``world``)."""

from __future__ import annotations

import pytest
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.loganalytics import LogAnalyticsManagementClient
from azure.mgmt.monitor import MonitorManagementClient

from controller.simulator import ArmSimulator
from tests.simulator.bodies import RG, SUB


@pytest.fixture
def world():
    sim = ArmSimulator(subscription_id=SUB, page_size=2)
    sim.ws_id = sim.add_workspace(resource_group=RG, name="ws", location="eastus")
    sim.cluster = sim.add_cyclecloud_cluster(
        resource_group=RG, cluster_name="slurm1", location="eastus",
        nodearrays={"hpc": ("Uniform", 4), "htc": ("Flexible", 3)},
    )
    with sim.serve() as server:
        cred = sim.credential()
        kw = {"base_url": server.endpoint, "connection_verify": server.ca_path}
        sim.server = server
        sim.la = LogAnalyticsManagementClient(cred, SUB, **kw)
        sim.mon = MonitorManagementClient(cred, SUB, **kw)
        sim.cmp = ComputeManagementClient(cred, SUB, **kw)
        yield sim
