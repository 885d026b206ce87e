"""The preflight's scale set lists: begun beside the inventory, and in the daemon kept between
passes while nothing says they changed (doctor.machines.ScaleSetReads), against the simulator."""

from __future__ import annotations

from controller.azure.clients import AzureClients, default_credential
from controller.components import load_config
from controller.doctor.preflight import NO_AGENT, preflight
from controller.reconcile import Reconciler
from controller.settings import Settings

MEMBER_LISTS = "VirtualMachines_List"  # the inventory's, and each Flexible scale set's with instance views
INSTANCE_LISTS = "VirtualMachineScaleSetVMs_List"  # each Uniform scale set's


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def reconciler(keep: float, **settings) -> tuple[Reconciler, Clock]:
    config = load_config(None)
    values = Settings(**settings)
    found = Reconciler(values, config.components, AzureClients(values, default_credential(values)), config.nodearray_roles, keep)
    clock = found.scale_set_reads.clock = Clock()
    return found, clock


def reads_of_a_plan(sim, r: Reconciler) -> tuple[int, int]:
    sim.reset_calls()
    planned = r.plan()
    assert planned.machines is not None
    return sim.calls[MEMBER_LISTS], sim.calls[INSTANCE_LISTS]


def test_one_shot_commands_read_the_scale_sets_every_time(azure, sim):
    r, _ = reconciler(0.0)
    assert reads_of_a_plan(sim, r) == (2, 1)  # the inventory, htc's members; hpc's instances
    assert reads_of_a_plan(sim, r) == (2, 1)


def test_the_daemon_keeps_them_while_the_scale_sets_hold_and_for_at_most_its_time(azure, sim):
    r, clock = reconciler(300.0)
    assert reads_of_a_plan(sim, r) == (2, 1)
    clock.now += 299
    assert reads_of_a_plan(sim, r) == (1, 0)  # the inventory only
    clock.now += 2
    assert reads_of_a_plan(sim, r) == (2, 1)  # 301 s since the last read: read again
    sim.scale(sim.cluster.vmss_ids["hpc"], 4)  # a capacity that changed is a scale set read again
    assert reads_of_a_plan(sim, r) == (1, 1)


def test_a_new_flexible_member_is_judged_by_a_new_read_not_by_the_kept_one(azure, sim):
    r, _ = reconciler(300.0)
    reads_of_a_plan(sim, r)
    htc = sim.cluster.vmss_ids["htc"]
    sim.scale(htc, 3)  # made from the model: it has the agent
    sim.put(htc, {**sim.get(htc), "sku": {**sim.get(htc)["sku"], "capacity": 2}})  # as if the capacity lagged
    assert reads_of_a_plan(sim, r) == (2, 0)
    verdicts = preflight(list(r.plan().machines))
    assert not [v for v in verdicts if NO_AGENT in v.causes]


def test_remediation_on_reads_every_pass(azure, sim):
    r, _ = reconciler(300.0, install_agent=True)
    assert reads_of_a_plan(sim, r) == (2, 1)
    assert reads_of_a_plan(sim, r) == (2, 1)


def test_without_the_clusters_name_the_scale_sets_are_read_after_the_inventory_and_kept_alike(azure, sim):
    """VM_ID alone names the cluster (by its tag): known only once the VMs are read."""
    r, clock = reconciler(300.0, cluster_name=None)
    assert r.plan().cluster.name == "slurm1"
    clock.now += 301
    assert reads_of_a_plan(sim, r) == (2, 1)
    assert reads_of_a_plan(sim, r) == (1, 0)
