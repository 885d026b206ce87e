"""The ARM simulator, driven by the real azure-mgmt SDK clients over HTTPS."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import DefaultAzureCredential
from azure.mgmt.compute import ComputeManagementClient

from controller.simulator import ArmSimulator
from tests.simulator.bodies import RG, SUB, dcr_body, make_table, table_body


# --- tables -------------------------------------------------------------------------------------
def test_table_lro_create_and_list(world):
    sim = world
    poller = sim.la.tables.begin_create_or_update(RG, "ws", "slurmd_raw_CL", table_body("slurmd_raw_CL"))
    table = poller.result()
    assert table.name == "slurmd_raw_CL"
    assert table.properties.provisioning_state == "Succeeded"
    assert [c.name for c in table.properties.schema.columns][:1] == ["TimeGenerated"]
    assert sim.calls["Tables_CreateOrUpdate"] == 1
    assert sim.calls["OperationStatuses_Get"] == 2  # InProgress once, then Succeeded
    make_table(sim, "slurmctld_raw_CL")
    names = sorted(t.name for t in sim.la.tables.list_by_workspace(RG, "ws"))
    assert names == ["slurmctld_raw_CL", "slurmd_raw_CL"]


def test_table_is_updating_until_operation_completes(world):
    sim = world
    sim.lro_polls = 10**6
    sim.la.tables.begin_create_or_update(RG, "ws", "slurmd_raw_CL", table_body("slurmd_raw_CL"), polling=False)
    assert sim.la.tables.get(RG, "ws", "slurmd_raw_CL").properties.provisioning_state == "Updating"
    # a DCR writing to it is refused while it is provisioning
    with pytest.raises(HttpResponseError) as e:
        sim.mon.data_collection_rules.create(RG, "slurmd_raw_dcr", dcr_body(sim.ws_id))
    assert e.value.status_code == 400 and "not available" in str(e.value)
    assert sim.complete_operations() == 1
    assert sim.la.tables.get(RG, "ws", "slurmd_raw_CL").properties.provisioning_state == "Succeeded"
    assert sim.mon.data_collection_rules.create(RG, "slurmd_raw_dcr", dcr_body(sim.ws_id)).provisioning_state == "Succeeded"


def test_table_refuses_bad_names_schemas_and_retention(world):
    sim = world
    with pytest.raises(HttpResponseError) as e:
        sim.la.tables.begin_create_or_update(RG, "ws", "noSuffix", table_body("noSuffix")).result()
    assert e.value.status_code == 400 and "_CL" in str(e.value)
    no_time = [{"name": "RawData", "type": "string"}]
    with pytest.raises(HttpResponseError):
        sim.la.tables.begin_create_or_update(RG, "ws", "y_CL", table_body("y_CL", no_time)).result()
    bad_retention = table_body("z_CL")
    bad_retention["properties"]["retentionInDays"] = 3
    with pytest.raises(HttpResponseError):
        sim.la.tables.begin_create_or_update(RG, "ws", "z_CL", bad_retention).result()
    assert sim.list("table") == []


def test_table_delete_is_long_running(world):
    sim = world
    make_table(sim)
    sim.la.tables.begin_delete(RG, "ws", "slurmd_raw_CL").result()
    assert sim.get(sim.ws_id + "/tables/slurmd_raw_CL") is None
    with pytest.raises(ResourceNotFoundError):
        sim.la.tables.get(RG, "ws", "slurmd_raw_CL")


def test_workspace_get_and_404(world):
    sim = world
    ws = sim.la.workspaces.get(RG, "ws")
    assert ws.id == sim.ws_id and ws.location == "eastus" and len(ws.customer_id) == 36
    with pytest.raises(ResourceNotFoundError) as e:
        sim.la.workspaces.get(RG, "missing")
    assert e.value.error.code == "ResourceNotFound"


# --- data collection rules ----------------------------------------------------------------------
def test_dcr_create_update_get_and_readonly_fields(world):
    sim = world
    make_table(sim)
    created = sim.mon.data_collection_rules.create(RG, "slurmd_raw_dcr", dcr_body(sim.ws_id))
    assert sim.responses[("DataCollectionRules_Create", 201)] == 1
    assert created.immutable_id.startswith("dcr-") and created.etag
    assert created.tags == {"ClusterName": "slurm1", "managed-by": "slurm-log-controller"}
    assert created.destinations.log_analytics[0].workspace_id == sim.get(sim.ws_id)["properties"]["customerId"]
    again = sim.mon.data_collection_rules.create(RG, "SLURMD_RAW_DCR", dcr_body(sim.ws_id))
    assert sim.responses[("DataCollectionRules_Create", 200)] == 1
    assert again.immutable_id == created.immutable_id and again.name == "slurmd_raw_dcr"
    got = sim.mon.data_collection_rules.get(RG, "slurmd_raw_dcr")
    assert got.data_flows[0].output_stream == "Custom-slurmd_raw_CL"
    sim.mon.data_collection_rules.delete(RG, "slurmd_raw_dcr")
    assert sim.get(created.id) is None


def test_dcr_refuses_an_unknown_column_type(world):
    sim = world
    make_table(sim)
    with pytest.raises(HttpResponseError) as e:
        sim.mon.data_collection_rules.create(RG, "slurmd_raw_dcr", dcr_body(sim.ws_id, dt="timestamp"))
    assert e.value.status_code == 400
    assert e.value.error.code == "InvalidPayload" and "timestamp" in str(e.value)


def test_dcr_refused_when_output_table_missing(world):
    sim = world
    with pytest.raises(HttpResponseError) as e:
        sim.mon.data_collection_rules.create(RG, "slurmd_raw_dcr", dcr_body(sim.ws_id))
    assert e.value.status_code == 400
    assert "Custom-slurmd_raw_CL" in str(e.value) and "not available" in str(e.value)


def test_dcr_schema_errors(world):
    sim = world
    make_table(sim)
    body = dcr_body(sim.ws_id)
    del body["location"]
    with pytest.raises(HttpResponseError) as e:
        sim.mon.data_collection_rules.create(RG, "d1", body)
    assert e.value.error.code == "LocationRequired"
    body = dcr_body(sim.ws_id)
    body["properties"]["destinations"]["logAnalytics"][0]["workspaceResourceId"] = sim.ws_id + "x"
    with pytest.raises(HttpResponseError) as e:
        sim.mon.data_collection_rules.create(RG, "d1", body)
    assert e.value.status_code == 400 and "workspace" in str(e.value)
    body = dcr_body(sim.ws_id)
    body["properties"]["dataFlows"][0]["destinations"] = ["nope"]
    with pytest.raises(HttpResponseError):
        sim.mon.data_collection_rules.create(RG, "d1", body)
    body = dcr_body(sim.ws_id)
    body["properties"]["streamDeclarations"]["Text-x"] = {"columns": [{"name": "a", "type": "string"}]}
    with pytest.raises(HttpResponseError):
        sim.mon.data_collection_rules.create(RG, "d1", body)
    body = dcr_body(sim.ws_id)
    del body["properties"]["dataSources"]["logFiles"][0]["format"]
    with pytest.raises(HttpResponseError):
        sim.mon.data_collection_rules.create(RG, "d1", body)
    with pytest.raises(ResourceNotFoundError):
        sim.mon.data_collection_rules.create("no-such-rg", "d1", dcr_body(sim.ws_id))
    assert sim.list("dcr") == []


# --- associations -------------------------------------------------------------------------------
@pytest.fixture
def rule(world):
    make_table(world)
    return world.mon.data_collection_rules.create(RG, "slurmd_raw_dcr", dcr_body(world.ws_id))


def assoc(rule_id):
    return {"properties": {"dataCollectionRuleId": rule_id}}


def test_association_on_flexible_vmss_refused(world, rule):
    sim = world
    with pytest.raises(HttpResponseError) as e:
        sim.mon.data_collection_rule_associations.create(sim.cluster.vmss_ids["htc"], "slurmd", assoc(rule.id))
    assert e.value.status_code == 400 and "Flexible" in str(e.value)


def test_association_on_uniform_vmss_and_vm_and_lists(world, rule):
    sim = world
    mon = sim.mon.data_collection_rule_associations
    a = mon.create(sim.cluster.vmss_ids["hpc"], "slurmd", assoc(rule.id))
    assert a.data_collection_rule_id == rule.id
    assert sim.responses[("DataCollectionRuleAssociations_Create", 201)] == 1
    mon.create(sim.cluster.vmss_ids["hpc"], "slurmd", assoc(rule.id))  # idempotent re-PUT
    assert sim.responses[("DataCollectionRuleAssociations_Create", 200)] == 1
    flex_vms = sim.vmss_members(sim.cluster.vmss_ids["htc"])
    assert len(flex_vms) == 3
    for vm in [sim.cluster.scheduler_vm_id, *flex_vms]:
        mon.create(vm, "slurmd", assoc(rule.id))
        mon.create(vm, "other", assoc(rule.id))
    sim.reset_calls()
    by_rule = list(mon.list_by_rule(RG, "slurmd_raw_dcr"))
    assert len(by_rule) == 9
    assert sim.calls["DataCollectionRuleAssociations_ListByRule"] == 5  # page_size=2
    by_res = list(mon.list_by_resource(sim.cluster.scheduler_vm_id))
    assert sorted(x.name for x in by_res) == ["other", "slurmd"]
    got = mon.get(sim.cluster.scheduler_vm_id, "slurmd")
    assert got.id.endswith("/dataCollectionRuleAssociations/slurmd")
    mon.delete(sim.cluster.scheduler_vm_id, "other")
    assert [x.name for x in mon.list_by_resource(sim.cluster.scheduler_vm_id)] == ["slurmd"]


def test_association_errors(world, rule):
    sim = world
    mon = sim.mon.data_collection_rule_associations
    missing_vm = sim.cluster.scheduler_vm_id + "-gone"
    with pytest.raises(ResourceNotFoundError):
        mon.create(missing_vm, "slurmd", assoc(rule.id))
    with pytest.raises(HttpResponseError) as e:
        mon.create(sim.cluster.scheduler_vm_id, "slurmd", assoc(rule.id + "x"))
    assert e.value.status_code == 400
    with pytest.raises(ResourceNotFoundError):
        mon.get(sim.cluster.scheduler_vm_id, "slurmd")


def test_deleting_vm_removes_its_associations(world, rule):
    sim = world
    mon = sim.mon.data_collection_rule_associations
    vm = sim.vmss_members(sim.cluster.vmss_ids["htc"])[0]
    mon.create(vm, "slurmd", assoc(rule.id))
    mon.create(sim.cluster.scheduler_vm_id, "slurmd", assoc(rule.id))
    sim.delete_vm(vm)
    assert [a.id for a in mon.list_by_rule(RG, "slurmd_raw_dcr")] == [
        sim.cluster.scheduler_vm_id + "/providers/Microsoft.Insights/dataCollectionRuleAssociations/slurmd"]
    assert sim.get(sim.cluster.vmss_ids["htc"])["sku"]["capacity"] == 2
    with pytest.raises(ResourceNotFoundError):
        list(mon.list_by_resource(vm))


def test_hook_can_delete_target_mid_request(world, rule):
    sim = world
    vm = sim.cluster.scheduler_vm_id
    sim.hook("DataCollectionRuleAssociations_Create", lambda req: sim.delete_vm(vm))
    with pytest.raises(ResourceNotFoundError):
        sim.mon.data_collection_rule_associations.create(vm, "slurmd", assoc(rule.id))


# --- compute ------------------------------------------------------------------------------------
def test_compute_lists_tags_and_scaling(world):
    sim = world
    vms = list(sim.cmp.virtual_machines.list(RG))
    assert len(vms) == 4  # scheduler + 3 Flexible members; Uniform instances are not VMs
    sched = next(v for v in vms if v.name == "slurm1-scheduler")
    assert sched.tags["ClusterName"] == "slurm1" and sched.tags["Name"] == "scheduler"
    assert "CycleCloudNodeArray" not in sched.tags
    flex = [v for v in vms if v.virtual_machine_scale_set is not None]
    assert {v.tags["CycleCloudNodeArray"].rsplit("/", 1)[-1] for v in flex} == {"htc"}
    assert all(v.tags["CycleCloudNodeArray"].startswith("/sites/") for v in flex)
    sets = {s.name: s for s in sim.cmp.virtual_machine_scale_sets.list(RG)}
    assert sets["slurm1-hpc"].orchestration_mode == "Uniform" and sets["slurm1-hpc"].sku.capacity == 4
    assert sets["slurm1-htc"].orchestration_mode == "Flexible"
    inst = list(sim.cmp.virtual_machine_scale_set_vms.list(RG, "slurm1-hpc"))
    assert [i.instance_id for i in inst] == ["0", "1", "2", "3"]
    with pytest.raises(HttpResponseError) as e:
        list(sim.cmp.virtual_machine_scale_set_vms.list(RG, "slurm1-htc"))
    assert e.value.status_code == 400
    sim.scale(sim.cluster.vmss_ids["hpc"], 2)
    sim.scale(sim.cluster.vmss_ids["htc"], 5, provisioning_state="Creating")
    assert [i.instance_id for i in sim.cmp.virtual_machine_scale_set_vms.list(RG, "slurm1-hpc")] == ["0", "1"]
    states = [v.provisioning_state for v in sim.cmp.virtual_machines.list(RG) if v.virtual_machine_scale_set]
    assert sorted(states) == ["Creating", "Creating", "Succeeded", "Succeeded", "Succeeded"]
    assert sim.cmp.virtual_machine_scale_sets.get(RG, "slurm1-htc").sku.capacity == 5
    with pytest.raises(ResourceNotFoundError):
        sim.cmp.virtual_machines.get(RG, "nope")


# --- protocol: auth, api-version, throttling, faults --------------------------------------------
def test_missing_bearer_token_is_401(world):
    sim = world
    url = f"{sim.server.endpoint}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachines"
    r = requests.get(url, params={"api-version": "2024-07-01"}, verify=sim.server.ca_path)
    assert r.status_code == 401 and r.json()["error"]["code"] == "AuthenticationFailed"
    r = requests.get(url, params={"api-version": "2024-07-01"}, verify=sim.server.ca_path,
                     headers={"Authorization": "Bearer forged"})
    assert r.status_code == 401
    token = sim.credential().get_token("https://management.azure.com/.default").token
    r = requests.get(url, verify=sim.server.ca_path, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "MissingApiVersionParameter"


def test_sdk_honours_429_retry_after(world):
    sim = world
    sim.inject(operation="VirtualMachines_List", status=429, times=2, retry_after=1)
    start = time.monotonic()
    assert len(list(sim.cmp.virtual_machines.list(RG))) == 4
    assert time.monotonic() - start >= 1.9
    assert sim.responses[("VirtualMachines_List", 429)] == 2
    assert sim.throttled["VirtualMachines_List"] == 2


def test_injected_error_with_custom_code(world):
    sim = world
    sim.inject(operation="Workspaces_Get", status=409, code="ScopeLocked", message="locked")
    with pytest.raises(HttpResponseError) as e:
        sim.la.workspaces.get(RG, "ws")
    assert e.value.error.code == "ScopeLocked"
    assert sim.la.workspaces.get(RG, "ws").name == "ws"


def test_a_hung_request_is_answered_late_or_when_released(world):
    sim = world
    sim.hang("Workspaces_Get", seconds=0.5)
    start = time.monotonic()
    assert sim.la.workspaces.get(RG, "ws").name == "ws"
    assert time.monotonic() - start >= 0.5
    sim.hang("Workspaces_Get", seconds=60)
    released = threading.Timer(0.2, sim.clear_faults)
    released.start()
    start = time.monotonic()
    assert sim.la.workspaces.get(RG, "ws").name == "ws"
    assert time.monotonic() - start < 30
    assert sim.calls["Workspaces_Get"] == 2


def test_emulated_arm_throttling(world):
    sim = world
    sim.emulate_arm_throttling(read_burst=3, read_rate=1, scale=0.1)  # 10 reads/s refill
    for _ in range(5):
        sim.la.workspaces.get(RG, "ws")
    assert sim.throttled["Workspaces_Get"] >= 1
    assert sim.responses[("Workspaces_Get", 200)] == 5


def test_default_azure_credential_with_server_env(world, monkeypatch):
    sim = world
    for k in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE",
              "MSI_ENDPOINT", "IDENTITY_SERVER_THUMBPRINT"):
        monkeypatch.delenv(k, raising=False)
    for k, v in sim.server.env().items():
        monkeypatch.setenv(k, v)
    cred = DefaultAzureCredential()
    token = cred.get_token("https://management.azure.com/.default")
    assert token.token.startswith("sim.") and sim.token_requests == 1
    client = ComputeManagementClient(cred, SUB, base_url=sim.server.env()["ARM_ENDPOINT"])
    assert {v.name for v in client.virtual_machine_scale_sets.list(RG)} == {"slurm1-hpc", "slurm1-htc"}


def test_concurrent_association_puts(world, rule):
    from concurrent.futures import ThreadPoolExecutor

    sim = world
    vms = [sim.add_vm(RG, f"node{i}", tags={"ClusterName": "slurm1"}) for i in range(40)]
    mon = sim.mon.data_collection_rule_associations
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda vm: mon.create(vm, "slurmd", assoc(rule.id)), vms))
    assert sim.calls["DataCollectionRuleAssociations_Create"] == 40
    sim.page_size = 100
    assert len(list(mon.list_by_rule(RG, "slurmd_raw_dcr"))) == 40


# --- direct (no HTTP) inspection API ------------------------------------------------------------
def test_direct_api_put_get_remove_list():
    sim = ArmSimulator(subscription_id=SUB)
    ws = sim.add_workspace(RG, "ws")
    cluster = sim.add_cyclecloud_cluster(RG, "c1", nodearrays={"hpc": ("Uniform", 2), "htc": ("Flexible", 2)})
    assert len(sim.list("virtualMachines")) == 3 and len(sim.list("vmss")) == 2
    assert len(sim.list("instance")) == 2
    rules = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Insights/dataCollectionRules"
    sim.put(f"{rules}/a", {"location": "eastus", "tags": {"x": "1"}, "properties": {}})
    copy_of_a = sim.get(f"{rules}/A")  # ids are case-insensitive
    copy_of_a["tags"] = {"owner": "else"}
    sim.put(f"{rules}/b", copy_of_a)
    assert sim.get(f"{rules}/b")["name"] == "b" and sim.get(f"{rules}/a")["tags"] == {"x": "1"}
    vm = cluster.scheduler_vm_id
    sim.put(f"{vm}/providers/Microsoft.Insights/dataCollectionRuleAssociations/x",
            {"properties": {"dataCollectionRuleId": f"{rules}/a"}})
    assert sim.list("association")[0]["type"] == "Microsoft.Insights/dataCollectionRuleAssociations"
    assert sim.remove(vm) and sim.list("association") == []
    sim.add_table(ws, "t_CL")
    assert sim.remove(ws) and sim.list("table") == []
    assert sim.calls == {} and sim.reads() == 0 and sim.writes() == 0


def test_identity_endpoint_requires_the_identity_header(world):
    sim = world
    env = sim.server.env()
    r = requests.get(env["IDENTITY_ENDPOINT"], params={"api-version": "2019-08-01", "resource": "https://management.azure.com"},
                     verify=env["REQUESTS_CA_BUNDLE"])
    assert r.status_code == 401
    r = requests.get(env["IDENTITY_ENDPOINT"], params={"api-version": "2019-08-01", "resource": "https://management.azure.com"},
                     headers={"X-IDENTITY-HEADER": env["IDENTITY_HEADER"]}, verify=env["REQUESTS_CA_BUNDLE"])
    assert r.status_code == 200 and r.json()["token_type"] == "Bearer" and int(r.json()["expires_on"]) > time.time()


def test_latency_applies_to_writes(world, rule):
    sim = world
    sim.set_latency(read=0.0, write=0.2)
    start = time.monotonic()
    sim.mon.data_collection_rule_associations.create(sim.cluster.scheduler_vm_id, "slurmd", assoc(rule.id))
    assert time.monotonic() - start >= 0.2
    sim.set_latency()
