"""One test per rule the simulator enforces because Azure does (sources: controller/simulator/README.md),
through the real SDK clients over HTTPS."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest
import requests
from azure.core.exceptions import HttpResponseError

from controller.simulator import ArmSimulator
from tests.simulator.bodies import RAW_COLUMNS, RG, SUB, dcr_body, make_table, table_body


def refused(call, *args, **kwargs) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as e:
        result = call(*args, **kwargs)
        if hasattr(result, "result"):
            result.result()
    assert e.value.status_code == 400, e.value
    return e.value


def create_dcr(sim, body, name="d1"):
    return sim.mon.data_collection_rules.create(RG, name, body)


def table_props(sim, name):
    return sim.get(f"{sim.ws_id}/tables/{name}")["properties"]


# --- DCRs ---------------------------------------------------------------------------------------
def test_a_dcr_in_another_region_than_its_workspace_is_refused(world):
    sim = world
    make_table(sim)
    body = dcr_body(sim.ws_id)
    body["location"] = "westeurope"
    err = refused(create_dcr, sim, body)
    assert "region" in str(err) and "eastus" in str(err)
    body["location"] = "East US"  # the display name is the same region
    assert create_dcr(sim, body).location == "East US"


def test_a_source_transform_must_output_the_tables_columns_and_types(world):
    sim = world
    make_table(sim)
    wrong_type = dcr_body(sim.ws_id)
    wrong_type["properties"]["streamDeclarations"]["Custom-Text-slurmd_raw_CL"]["columns"][1]["type"] = "int"
    err = refused(create_dcr, sim, wrong_type)
    assert "Types of transform output columns do not match" in str(err) and "RawData" in str(err)
    extra = dcr_body(sim.ws_id)
    extra["properties"]["streamDeclarations"]["Custom-Text-slurmd_raw_CL"]["columns"].append({"name": "Node", "type": "string"})
    assert "Node" in str(refused(create_dcr, sim, extra))
    # a transform of its own makes its own columns: not compared here
    extra["properties"]["dataFlows"][0]["transformKql"] = "source | project-away Node"
    assert create_dcr(sim, extra).provisioning_state == "Succeeded"


def test_datetime_is_accepted_in_either_casing_in_streams_and_tables(world):
    sim = world
    lower = copy.deepcopy(RAW_COLUMNS)
    lower[0]["type"] = "datetime"
    table = sim.la.tables.begin_create_or_update(RG, "ws", "slurmd_raw_CL", table_body("slurmd_raw_CL", lower)).result()
    assert table.properties.schema.columns[0].type == "datetime"
    for casing in ("dateTime", "datetime", "DateTime"):
        assert create_dcr(sim, dcr_body(sim.ws_id, dt=casing)).provisioning_state == "Succeeded"


@pytest.mark.parametrize("what", ["data sources", "data flows", "streams"])
def test_a_dcr_has_at_most_ten_of_each(world, what):
    sim = world
    make_table(sim)

    def body(count):
        b = dcr_body(sim.ws_id)
        p = b["properties"]
        stream, source, flow = (p["streamDeclarations"]["Custom-Text-slurmd_raw_CL"], p["dataSources"]["logFiles"][0],
                                p["dataFlows"][0])
        if what == "streams":
            p["streamDeclarations"].update({f"Custom-Extra{i}": stream for i in range(count - 1)})
        if what == "data sources":
            p["dataSources"]["logFiles"] = [{**source, "name": f"log{i}"} for i in range(count)]
        if what == "data flows":
            p["dataFlows"] = [flow] * count
        return b

    assert create_dcr(sim, body(10)).provisioning_state == "Succeeded"
    err = refused(create_dcr, sim, body(11))
    assert f"at most 10 {what}" in str(err)


def test_a_transform_is_at_most_15360_characters(world):
    sim = world
    make_table(sim)
    body = dcr_body(sim.ws_id)
    head = "source | where RawData != '"
    body["properties"]["dataFlows"][0]["transformKql"] = head + "x" * (15_360 - len(head) - 1) + "'"
    assert create_dcr(sim, body).provisioning_state == "Succeeded"
    body["properties"]["dataFlows"][0]["transformKql"] += " "
    assert "15360" in str(refused(create_dcr, sim, body))


@pytest.mark.parametrize("kind", ["Linux", "Windows", "AgentSettings", None])
def test_documented_dcr_kinds_are_accepted(world, kind):
    sim = world
    make_table(sim)
    body = dcr_body(sim.ws_id)
    body.pop("kind")
    if kind:
        body["kind"] = kind
    assert create_dcr(sim, body).kind == kind


def test_an_unknown_dcr_kind_is_refused(world):
    sim = world
    make_table(sim)
    body = dcr_body(sim.ws_id)
    body["kind"] = "Solaris"
    assert "Solaris" in str(refused(create_dcr, sim, body))


# --- tables -------------------------------------------------------------------------------------
def create_table(sim, name, **props):
    body = table_body(name)
    body["properties"].update(props)
    return sim.la.tables.begin_create_or_update(RG, "ws", name, body)


@pytest.mark.parametrize("days", [3, 731])
def test_interactive_retention_is_4_to_730_days(world, days):
    assert "retentionInDays" in str(refused(create_table, world, "a_CL", retentionInDays=days))


def test_interactive_retention_bounds_are_accepted(world):
    for name, days in (("a_CL", 4), ("b_CL", 730)):
        assert create_table(world, name, retentionInDays=days, totalRetentionInDays=days).result().properties.retention_in_days == days


@pytest.mark.parametrize("days", [3, 731, 1000, 4384])
def test_total_retention_past_730_days_is_whole_years(world, days):
    assert "totalRetentionInDays" in str(refused(create_table, world, "a_CL", totalRetentionInDays=days))


@pytest.mark.parametrize("days", [730, 1095, 2556, 4383])
def test_total_retention_values_azure_accepts(world, days):
    assert create_table(world, "a_CL", totalRetentionInDays=days).result().properties.total_retention_in_days == days


def test_a_basic_table_keeps_30_days_interactively(world):
    sim = world
    assert "Basic" in str(refused(create_table, sim, "a_CL", plan="Basic", retentionInDays=60))
    table = create_table(sim, "b_CL", plan="Basic", retentionInDays=None).result()
    assert (table.properties.plan, table.properties.retention_in_days) == ("Basic", 30)


def test_a_tables_plan_changes_once_a_week(world):
    sim = world
    now = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    sim.clock = lambda: now
    make_table(sim)
    assert create_table(sim, "slurmd_raw_CL", plan="Basic").result().properties.plan == "Basic"
    now += dt.timedelta(days=6, hours=23)
    assert "once a week" in str(refused(create_table, sim, "slurmd_raw_CL", plan="Analytics"))
    now += dt.timedelta(hours=1)
    assert create_table(sim, "slurmd_raw_CL", plan="Analytics").result().properties.plan == "Analytics"


def test_a_put_that_omits_retention_resets_it_and_a_patch_keeps_it(world):
    sim = world
    create_table(sim, "a_CL", retentionInDays=90, totalRetentionInDays=365).result()
    sim.la.tables.begin_update(RG, "ws", "a_CL", {"properties": {"plan": "Analytics"}}).result()
    props = table_props(sim, "a_CL")
    assert (props["retentionInDays"], props["totalRetentionInDays"]) == (90, 365)
    sim.la.tables.begin_create_or_update(RG, "ws", "a_CL", table_body("a_CL")).result()  # retentionInDays 30
    body = table_body("a_CL")
    del body["properties"]["retentionInDays"]
    sim.la.tables.begin_create_or_update(RG, "ws", "a_CL", body).result()
    props = table_props(sim, "a_CL")
    workspace_default = sim.get(sim.ws_id)["properties"]["retentionInDays"]
    assert (props["retentionInDays"], props["totalRetentionInDays"]) == (workspace_default, workspace_default)
    assert props["retentionInDaysAsDefault"] and props["totalRetentionInDaysAsDefault"]


def test_a_table_creation_can_end_failed(world):
    sim = world
    sim.fail_table_creation("slurmd_raw_CL", code="SchemaUpdateFatalError")
    poller = sim.la.tables.begin_create_or_update(RG, "ws", "slurmd_raw_CL", table_body("slurmd_raw_CL"))
    with pytest.raises(HttpResponseError) as e:
        poller.result()
    assert "SchemaUpdateFatalError" in str(e.value)
    assert poller.status().lower() == "failed"
    assert sim.get(f"{sim.ws_id}/tables/slurmd_raw_CL") is None
    assert make_table(sim).properties.provisioning_state == "Succeeded"  # only the one creation fails


# --- throttling ---------------------------------------------------------------------------------
def raw(sim, method, path):
    token, _ = sim.issue_token()
    return requests.request(method, f"{sim.server.endpoint}{path}?api-version=2023-03-01",
                            headers={"Authorization": f"Bearer {token}"}, verify=sim.server.ca_path, timeout=10)


def test_deletes_draw_on_their_own_bucket(world):
    sim = world
    sim.emulate_arm_throttling(write_burst=1, write_rate=0.001, delete_burst=2, delete_rate=0.001)
    rule = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Insights/dataCollectionRules/nope"
    assert raw(sim, "PATCH", rule).status_code != 429  # takes the one write token
    assert raw(sim, "PATCH", rule).status_code == 429
    first = raw(sim, "DELETE", rule)
    assert first.status_code == 204 and first.headers["x-ms-ratelimit-remaining-subscription-deletes"] == "1"
    assert "x-ms-ratelimit-remaining-subscription-writes" not in first.headers
    assert raw(sim, "DELETE", rule).status_code == 204
    third = raw(sim, "DELETE", rule)
    assert third.status_code == 429 and third.headers["x-ms-ratelimit-remaining-subscription-deletes"] == "0"
    assert int(third.headers["Retry-After"]) >= 1


def test_compute_throttles_vm_and_vmss_lists_with_its_own_headers(world):
    sim = world
    sim.throttle_compute(times=1, retry_after=1)
    answer = raw(sim, "GET", f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachines")
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "1"
    assert answer.headers["x-ms-ratelimit-remaining-resource"] == "Microsoft.Compute/HighCostGet3Min;0"
    error = answer.json()["error"]
    assert error["code"] == "OperationNotAllowed" and error["details"][0]["code"] == "TooManyRequests"
    assert json.loads(error["details"][0]["message"])["operationGroup"] == "HighCostGet3Min"
    sim.throttle_compute(times=1, retry_after=1)
    assert len(list(sim.cmp.virtual_machine_scale_sets.list(RG))) == 2  # azure-core waits and retries
    assert sim.throttled["VirtualMachineScaleSets_List"] == 1
    assert raw(sim, "GET", f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachineScaleSets/slurm1-hpc").status_code == 200


# --- the CycleCloud fixture ---------------------------------------------------------------------
def test_a_cluster_with_login_and_scheduler_ha_nodearrays():
    sim = ArmSimulator(subscription_id=SUB)
    cluster = sim.add_cyclecloud_cluster(RG, "c1", nodearrays={
        "hpc": ("Uniform", 3), "login": ("Flexible", 1), "scheduler-ha": ("Flexible", 1)})
    assert set(cluster.vmss_ids) == {"hpc", "login", "scheduler-ha"}
    [ha] = sim.vmss_members(cluster.vmss_ids["scheduler-ha"])
    assert sim.get(ha)["tags"]["CycleCloudNodeArray"].endswith("/clusters/c1/nodearrays/scheduler-ha")


def test_random_tag_name_casing_is_seeded_and_case_insensitively_the_same():
    def tag_names(seed):
        sim = ArmSimulator(subscription_id=SUB)
        sim.add_cyclecloud_cluster(RG, "c1", nodearrays={"hpc": ("Uniform", 2), "htc": ("Flexible", 3)},
                                   tag_case="random", tag_seed=seed)
        return [sorted(r["tags"]) for r in sim.list("vm") + sim.list("vmss") + sim.list("instance")]

    names = tag_names(1)
    assert names == tag_names(1) and names != tag_names(2)
    documented = {"clustername", "cyclecloudcluster", "cycleowner", "launchtime", "cyclecloudnodearray", "name"}
    assert all({n.lower() for n in tags} <= documented for tags in names)
    assert any(n not in {"ClusterName", "CycleCloudCluster", "CycleOwner", "LaunchTime", "CycleCloudNodeArray", "Name"}
               for tags in names for n in tags)
    assert len({tuple(tags) for tags in names}) > 1  # each VM and scale set its own casing


# --- transforms (transform_rules.py; data-collection-transformations-kql.md) --------------------
PARSED = [{"name": "TimeGenerated", "type": "dateTime"}, {"name": "Message", "type": "string"},
          {"name": "JobId", "type": "long"}]


def _parsed_dcr(sim, kql: str) -> dict:
    """A DCR whose one data flow sends the raw stream through `kql` into the table parsed_CL."""
    if sim.get(f"{sim.ws_id}/tables/parsed_CL") is None:
        sim.la.tables.begin_create_or_update(RG, "ws", "parsed_CL", table_body("parsed_CL", PARSED)).result()
    body = dcr_body(sim.ws_id)
    body["properties"]["dataFlows"][0].update(transformKql=kql, outputStream="Custom-parsed_CL")
    return body


GOOD = 'source | extend JobId = tolong(extract(@"JobId=(\\d+)", 1, RawData)) | project TimeGenerated, Message = RawData, JobId'


@pytest.mark.parametrize("kql, why", [
    ("source | summarize count() by bin(TimeGenerated, 1m)", "operator 'summarize'"),
    ("source | take 10 | project TimeGenerated, Message = RawData", "operator 'take'"),
    ('source | project TimeGenerated, Message = replace_string(RawData, "a", "b")', "function 'replace_string'"),
    ("source | project TimeGenerated, Message = tostring(rand())", "function 'rand'"),
    ('source | parse RawData with "[" A " " B " " C " " D " " E " " F " " G " " H " " I " " J " " K '
     "| project TimeGenerated, Message = A", "11 columns"),
    ("source | project TimeGenerated, Message = RawData, JobId = RawData", "column 'JobId' is 'string'"),
    ("source | project TimeGenerated, Message = RawData, Node = Computer", "column 'Node'"),
    ("source | project TimeGenerated, Message = RawData, | where", "could not be compiled"),
])
def test_a_transform_azure_would_refuse_is_refused(world, kql, why):
    sim = world
    make_table(sim)
    err = refused(create_dcr, sim, _parsed_dcr(sim, kql))
    assert why in str(err), str(err)


def test_a_transform_of_listed_operators_and_functions_is_accepted(world):
    sim = world
    make_table(sim)
    assert create_dcr(sim, _parsed_dcr(sim, GOOD)).provisioning_state == "Succeeded"
    # names inside string literals and comments are not calls; ten parse columns are allowed
    ten = ('// summarize(x) is only a comment\nsource | parse RawData with "[" A " " B " " C " " D " " E " " F " " G " " '
           'H " " I " " J | project TimeGenerated, Message = strcat(A, "take(1)"), JobId = tolong(B)')
    assert create_dcr(sim, _parsed_dcr(sim, ten), name="d2").provisioning_state == "Succeeded"
