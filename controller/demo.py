"""`slurm-log-controller demo`: a full reconcile against the built-in simulator, no Azure account.

It goes through the same code as a real run, REAL Azure SDK clients and DefaultAzureCredential
included; only the endpoint they talk to is the simulator on 127.0.0.1.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from .components import Component
from .reconcile import Reconciler
from .azure.clients import AzureClients, default_credential
from .settings import load_settings
from .simulator import ArmSimulator

ZERO = "00000000-0000-0000-0000-000000000000"


@contextmanager
def _environment(values: dict[str, str]):
    """What a real deployment has in its environment (endpoint, CA, managed identity), for the
    demo's duration only."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _step(title: str) -> None:
    print(f"\n=== {title}")


def run_demo(components: tuple[Component, ...], nodes: int = 4) -> int:
    sim = ArmSimulator(subscription_id=ZERO)
    sim.add_workspace(resource_group="slurm-rg", name="slurm-logs", location="eastus")
    cluster = sim.add_cyclecloud_cluster(
        resource_group="slurm-rg",
        cluster_name="demo",
        location="eastus",
        nodearrays={"hpc": ("Uniform", nodes), "htc": ("Flexible", nodes)},
    )
    with sim.serve() as server, _environment(server.env()):
        settings = load_settings(
            subscription_id=ZERO,
            resource_group="slurm-rg",
            workspace_name="slurm-logs",
            cluster_name="demo",
            vm_id=cluster.scheduler_vm_id,
            arm_endpoint=server.endpoint,
        )
        reconciler = Reconciler(settings, components, AzureClients(settings, default_credential(settings)))

        def reconcile(title: str) -> None:
            _step(title)
            sim.reset_calls()
            done = reconciler.run_once()
            print(done.plan.render())
            if done.plan.changes:
                print(done.result.render())
            print(f"ARM calls: {sim.reads()} reads, {sim.writes()} writes")

        print(f"Simulated Azure at {server.endpoint}: workspace slurm-logs, cluster 'demo' with a scheduler VM,")
        print(f"nodearray hpc (Uniform VMSS, {nodes} nodes) and nodearray htc (Flexible VMSS, {nodes} VMs).")
        reconcile("1. First pass on an empty subscription: create tables, DCRs, associations")
        reconcile("2. Second pass: nothing to do, and it costs list calls only")
        sim.scale(cluster.vmss_ids["htc"], nodes + 2)
        reconcile("3. CycleCloud scales htc out by 2 VMs: their associations are added")
        rule_id = f"/subscriptions/{ZERO}/resourceGroups/slurm-rg/providers/Microsoft.Insights/dataCollectionRules/slurmd_raw_dcr"
        edited = sim.get(rule_id)
        edited["properties"]["dataSources"]["logFiles"][0]["filePatterns"] = ["/tmp/slurmd.log"]
        sim.put(rule_id, edited)
        reconcile("4. Someone edits slurmd_raw_dcr's file pattern in the portal: the drift is undone")
        done = reconciler.plan()
        _step("Done")
        print(done.plan.render())
        return 0 if done.plan.empty else 1
