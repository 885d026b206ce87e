"""The compute writes remediation makes, through the real azure-mgmt-compute client: what the
simulator refuses as Azure does, and the state the simulated agent reads afterwards."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from tests.simulator.bodies import RG

AGENT = {"publisher": "Microsoft.Azure.Monitor", "type": "AzureMonitorLinuxAgent", "typeHandlerVersion": "1.0"}


def test_vm_extension_is_long_running_and_needs_location_and_handler(world):
    vm = world.cluster.scheduler_vm_id.rsplit("/", 1)[-1]
    poller = world.cmp.virtual_machine_extensions.begin_create_or_update(
        RG, vm, "ama", {"location": "eastus", "tags": {"a": "b"}, "properties": AGENT})
    made = poller.result()
    assert made.provisioning_state == "Succeeded" and made.tags == {"a": "b"}
    assert world.responses[("VirtualMachineExtensions_CreateOrUpdate", 201)] == 1
    names = [e.name for e in world.cmp.virtual_machine_extensions.list(RG, vm).value]
    assert "ama" in names
    for body, missing in (({"properties": AGENT}, "location"),
                          ({"location": "eastus", "properties": {**AGENT, "typeHandlerVersion": None}}, "typeHandlerVersion")):
        with pytest.raises(HttpResponseError) as refused:
            world.cmp.virtual_machine_extensions.begin_create_or_update(RG, vm, "ama2", body).result()
        assert refused.value.status_code == 400 and missing in str(refused.value)


def test_a_model_extension_makes_uniform_instances_lag_until_they_are_upgraded(world):
    name = world.cluster.vmss_ids["hpc"].rsplit("/", 1)[-1]
    world.cmp.virtual_machine_scale_set_extensions.begin_create_or_update(
        RG, name, "ama2", {"name": "ama2", "properties": AGENT}).result()
    lagging = {i.instance_id: i.latest_model_applied for i in world.cmp.virtual_machine_scale_set_vms.list(RG, name)}
    assert lagging == {"0": False, "1": False, "2": False, "3": False}
    world.cmp.virtual_machine_scale_sets.begin_update_instances(RG, name, {"instanceIds": ["0", "2"]}).result()
    applied = {i.instance_id: i.latest_model_applied for i in world.cmp.virtual_machine_scale_set_vms.list(RG, name)}
    assert applied == {"0": True, "1": False, "2": True, "3": False}
    assert world.responses[("VirtualMachineScaleSets_UpdateInstances", 202)] == 1


def test_update_instances_wants_ids_that_exist_on_a_uniform_scale_set(world):
    uniform, flexible = (world.cluster.vmss_ids[n].rsplit("/", 1)[-1] for n in ("hpc", "htc"))
    with pytest.raises(ResourceNotFoundError):
        world.cmp.virtual_machine_scale_sets.begin_update_instances(RG, uniform, {"instanceIds": ["0", "99"]}).result()
    with pytest.raises(HttpResponseError) as empty:
        world.cmp.virtual_machine_scale_sets.begin_update_instances(RG, uniform, {"instanceIds": []}).result()
    assert empty.value.status_code == 400
    with pytest.raises(HttpResponseError) as flex:
        world.cmp.virtual_machine_scale_sets.begin_update_instances(RG, flexible, {"instanceIds": ["0"]}).result()
    assert flex.value.status_code == 400
