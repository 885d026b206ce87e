"""Workspace functions (saved searches with a functionAlias): planned like every other resource,
written by `run --once` to the simulator with the real SDK, and called through the real
azure-monitor-query client on a workspace whose parsed tables the simulated agent filled through
the DCRs' transforms from the real Slurm lines in tests/kql/data (their real job ids)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.identity import DefaultAzureCredential
from azure.mgmt.loganalytics import LogAnalyticsManagementClient

from controller.cli import main
from controller.components import load_components
from controller.desired import Target, desired_state
from controller.plan import ObservedState, PlanPolicy, plan_changes
from controller.resources import Cluster
from controller.settings import Policy
from controller.transforms import LogFormat
from tests.kql.workspace import archive_files, load_archive_module
from tests.support import RG, SUB

DATA = __import__("pathlib").Path(__file__).resolve().parent / "kql" / "data"
WS = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.OperationalInsights/workspaces/logs"
TARGET = Target(SUB, RG, WS, "eastus", "slurm1")
OURS = {"managed-by": "slurm-log-controller", "slurm-log-controller-cluster": "slurm1"}


def desired(components=None):
    return desired_state(components or load_components(), TARGET, Cluster())


def function_of(state, alias):
    (found,) = [f for f in state.functions if f.function_alias == alias]
    return found


# --------------------------------------------------------------------------- the plan (pure)


def test_three_functions_over_the_enabled_components_parsed_tables():
    state = desired()
    assert [f.function_alias for f in state.functions] == ["SlurmJob", "SlurmNode", "SlurmFailedJobs"]
    assert [f.function_parameters for f in state.functions] == [
        "jobId:long", "node:string, since:datetime, until:datetime", "since:datetime"]
    assert all(f.tags == OURS and f.category == "Slurm" for f in state.functions)
    job = function_of(state, "SlurmJob").query
    assert all(f"{c.pattern}_CL" in job for c in load_components())
    assert "_raw_CL" not in job
    # without slurmctld only the node function is left; without dmesg its table isn't named
    no_ctld = [c for c in load_components() if c.pattern != "slurmctld"]
    assert [f.function_alias for f in desired(tuple(no_ctld)).functions] == ["SlurmNode"]
    no_dmesg = tuple(c for c in load_components() if c.pattern != "dmesg")
    assert "dmesg_CL" not in function_of(desired(no_dmesg), "SlurmNode").query
    # an array task's archive files are found by slurmctld's array ids, which only its slurm format has
    assert "ArrayTaskId == _arrayTask" in job
    plain_ctld = tuple(dataclasses.replace(c, log_format=LogFormat.PLAIN) if c.pattern == "slurmctld" else c
                       for c in load_components())
    assert "Array" not in function_of(desired(plain_ctld), "SlurmJob").query


def test_functions_are_created_then_in_sync():
    state = desired()
    plan = plan_changes(state, ObservedState(), PlanPolicy("slurm1"))
    assert [(c.action, c.kind) for c in plan.changes if c.kind == "function"] == [("create", "function")] * 3
    observed = ObservedState(state.tables, state.rules, state.associations, state.functions)
    assert plan_changes(state, observed, PlanPolicy("slurm1")).in_sync["function"] == 3


def test_a_changed_body_is_an_update_sent_with_the_etag_read():
    state = desired()
    job = function_of(state, "SlurmJob")
    edited = dataclasses.replace(job, query="slurmctld_CL | take 1", etag='"v7"', tags={**job.tags, "team": "hpc"})
    observed = ObservedState(functions=tuple(edited if f is job else f for f in state.functions))
    (change,) = [c for c in plan_changes(state, observed, PlanPolicy("slurm1")).changes if c.kind == "function"]
    assert change.action == "update" and [f.path for f in change.fields] == ["query"]
    assert change.resource.query == job.query and change.resource.etag == '"v7"'
    assert change.resource.body()["etag"] == '"v7"'
    assert change.resource.tags == {**OURS, "team": "hpc"}  # tags others added are kept


def test_a_function_with_our_alias_that_isnt_ours_is_left_alone_unless_adopted():
    state = desired()
    job = function_of(state, "SlurmJob")
    by_hand = dataclasses.replace(job, name="my-own-slurmjob", query="slurmctld_CL", tags={}, etag='"e1"')
    observed = ObservedState(functions=(by_hand,))
    plan = plan_changes(state, observed, PlanPolicy("slurm1", Policy.SYNC))
    assert [s.name for s in plan.skipped] == ["my-own-slurmjob"] and "ADOPT=unowned" in plan.skipped[0].reason
    assert not [c for c in plan.changes if c.kind == "function" and c.action != "create"]
    adopted = plan_changes(state, observed, PlanPolicy("slurm1", adopt=frozenset({None})))
    (change,) = [c for c in adopted.changes if c.kind == "function" and c.action == "update"]
    # written where it is, with its etag: the alias is what queries call
    assert change.resource.name == "my-own-slurmjob" and change.resource.etag == '"e1"' and change.adopted_from == "nobody"


def test_sync_deletes_only_our_functions_no_longer_wanted():
    state = desired()
    ours = dataclasses.replace(function_of(state, "SlurmJob"), function_alias="SlurmOld", name="slurm-log-controller-slurmold")
    theirs = dataclasses.replace(ours, function_alias="TheirFunction", name="theirs", tags={})
    observed = ObservedState(functions=state.functions + (ours, theirs))
    deletes = [c for c in plan_changes(state, observed, PlanPolicy("slurm1", Policy.SYNC)).changes if c.action == "delete"]
    assert [c.resource.name for c in deletes] == ["slurm-log-controller-slurmold"]
    kept = plan_changes(state, observed, PlanPolicy("slurm1")).kept
    assert [r.name for r in kept] == ["slurm-log-controller-slurmold"]


def test_plan_text_and_json_show_the_function():
    plan = plan_changes(desired(), ObservedState(), PlanPolicy("slurm1"))
    assert "+ function slurm-log-controller-slurmjob" in plan.render()
    assert "call: SlurmJob(jobId:long)" in plan.render()
    document = plan.to_dict()
    assert document["in_sync"]["function"] == 0
    jsonschema = pytest.importorskip("jsonschema")
    from controller.plan_output import schema

    jsonschema.validate(document, schema())


# --------------------------------------------------------------------------- the simulator's rules


@pytest.fixture
def saved_searches(sim, azure):
    client = LogAnalyticsManagementClient(DefaultAzureCredential(), SUB, base_url=azure.endpoint)
    return client.saved_searches


def body(**properties):
    props = {"category": "Slurm", "displayName": "x", "query": "Heartbeat", "functionAlias": "Fn", **properties}
    return {"properties": {k: v for k, v in props.items() if v is not None}}


def test_a_saved_search_needs_category_display_name_and_query(saved_searches):
    for missing in ("category", "displayName", "query"):
        with pytest.raises(HttpResponseError) as e:
            saved_searches.create_or_update(RG, "logs", "s1", body(**{missing: None}))
        assert e.value.status_code == 400 and missing in str(e.value)
    with pytest.raises(HttpResponseError, match="parameter 1"):
        saved_searches.create_or_update(RG, "logs", "s1", body(functionParameters="jobId long"))
    with pytest.raises(HttpResponseError, match="tags"):
        saved_searches.create_or_update(RG, "logs", "s1", body(tags={"a": "b"}))


def test_overwriting_a_saved_search_takes_its_etag_or_star(saved_searches, sim):
    first = saved_searches.create_or_update(RG, "logs", "s1", body())
    with pytest.raises(ResourceExistsError):  # 409: no etag
        saved_searches.create_or_update(RG, "logs", "s1", body(query="Heartbeat | take 1"))
    with pytest.raises(ResourceExistsError):  # 409: a stale one
        saved_searches.create_or_update(RG, "logs", "s1", {**body(), "etag": '"stale"'})
    second = saved_searches.create_or_update(RG, "logs", "s1", {**body(query="Heartbeat | take 1"), "etag": first.etag})
    assert second.etag != first.etag and second.properties.query == "Heartbeat | take 1"
    saved_searches.create_or_update(RG, "logs", "s1", {**body(), "etag": "*"})
    with pytest.raises(ResourceExistsError, match="already used"):  # two functions can't share a name
        saved_searches.create_or_update(RG, "logs", "s2", body())
    saved_searches.delete(RG, "logs", "s1")
    saved_searches.delete(RG, "logs", "s1")  # 200 either way (the spec's only answer)
    assert saved_searches.list_by_workspace(RG, "logs").value == []


# --------------------------------------------------------------------------- end to end


def test_run_once_creates_them_and_repairs_drift_in_the_metrics(sim, azure, tmp_path, capsys):
    assert main(["validate"]) == 0
    assert ("workspace functions: SlurmJob(jobId:long), SlurmNode(node:string, since:datetime, until:datetime), "
            "SlurmFailedJobs(since:datetime)") in capsys.readouterr().out
    assert main(["run", "--once"]) == 0
    found = {f["properties"]["functionAlias"]: f for f in sim.list("function")}
    assert set(found) == {"SlurmJob", "SlurmNode", "SlurmFailedJobs"}
    assert all({t["name"]: t["value"] for t in f["properties"]["tags"]} == OURS for f in found.values())
    job = found["SlurmJob"]
    sim.put(job["id"], {**job, "etag": '"edited"', "properties": {**job["properties"], "query": "slurmctld_CL"}})
    metrics = tmp_path / "metrics.prom"
    assert main(["run", "--once", "--metrics-file", str(metrics)]) == 0
    assert "isfuzzy=true" in sim.get(job["id"])["properties"]["query"]
    text = metrics.read_text()
    assert re.search(r'slurm_log_controller_changes_total\{action="update",kind="function",result="applied"\} 1\.0', text)
    assert re.search(r'slurm_log_controller_resources\{kind="function",state="in_sync"\} 3\.0', text)
    sim.reset_calls()
    assert main(["plan"]) == 0 and sim.writes() == 0
    assert sim.calls["SavedSearches_ListByWorkspace"] == 1 and "SavedSearches_Get" not in sim.calls  # one list, not one read each


def test_an_edit_between_our_read_and_our_write_is_not_overwritten(sim, azure, capsys):
    assert main(["run", "--once"]) == 0
    job = next(f for f in sim.list("function") if f["properties"]["functionAlias"] == "SlurmJob")
    sim.put(job["id"], {**job, "etag": '"drift"', "properties": {**job["properties"], "query": "slurmctld_CL"}})

    def someone_edits_it_again(request):  # after our read, before our write: a new etag
        sim.put(job["id"], {**sim.get(job["id"]), "etag": '"theirs"', "properties": {**job["properties"], "query": "T"}})

    sim.hook("SavedSearches_CreateOrUpdate", someone_edits_it_again)
    capsys.readouterr()
    assert main(["run", "--once"]) == 0  # a conflict is skipped, not a failure
    assert "skipped: ~ function slurm-log-controller-slurmjob: conflict" in capsys.readouterr().out
    assert sim.get(job["id"])["properties"]["query"] == "T"
    sim.clear_hooks()
    assert main(["run", "--once"]) == 0 and "isfuzzy=true" in sim.get(job["id"])["properties"]["query"]


# --------------------------------------------------------------------------- calling them

T0 = dt.datetime(2026, 11, 25, 7, 39, 24, tzinfo=dt.timezone.utc)
JOB3 = dt.datetime(2026, 11, 25, 7, 39, 27, 300000, tzinfo=dt.timezone.utc)  # while job 3 ran
CTLD, SLURMD, DMESG, SYSLOG = ("/var/log/slurmctld/slurmctld.log", "/var/log/slurmd/slurmd.log", "/var/log/dmesg",
                               "/var/log/syslog")


def syslog_line(at, host, text):
    return f"{at.isoformat(timespec='microseconds')} {host} {text}"


def archived_files(job, user, node, files, array=None):
    """{path: lines} of a job's files as the job archive program names and writes them."""
    sja = load_archive_module()
    spec = dict(user=user, job=job, node=node, files=files, **({"array": array} if array else {}))
    return {path: content.decode().splitlines() for path, content in archive_files(sja, spec, "flat").items()}


@pytest.fixture
def nodes(sim):
    """(machine id, host name) of every node: the host name is what the agent reports as Computer."""
    ids = [m for vmss in sim.cluster.vmss_ids.values() for m in sim.vmss_members(vmss)]
    return [(m, sim.get(m)["properties"]["osProfile"]["computerName"]) for m in ids]


@pytest.fixture
def workspace(sim, azure, monkeypatch, nodes):
    """`run --once` made the functions and tables; the simulated agent collected the real slurmctld
    and slurmd lines (jobs 1-12; slurmd on the first node, which Slurm knew as `localhost`), the
    archived files of job 3 and of array task 8_1 (job 11), a kernel OOM kill of job 3's cgroup,
    and syslog lines, each file on a machine whose role collects it, through the DCRs' transforms."""
    monkeypatch.setenv("LOGS_ENDPOINT", azure.endpoint)
    assert main(["run", "--once"]) == 0
    (node, host), (other, _) = nodes[:2]
    scheduler = sim.cluster.scheduler_vm_id
    sim.clock = lambda: JOB3  # dmesg's stamps are since boot: its rows take the time the agent read them
    sim.append_lines(scheduler, CTLD, (DATA / "slurmctld.log").read_text().splitlines())
    sim.append_lines(node, SLURMD, (DATA / "slurmd.log").read_text().splitlines())
    for path, lines in {**archived_files("3", "alice", host, {".out": "epoch 1\n", ".err": "MemoryError\n"}),
                        **archived_files("11", "alice", host, {".out": "task 1\n"}, array=("8", "1"))}.items():
        sim.append_lines(scheduler, path, lines)
    sim.append_lines(node, DMESG, [
        "[ 8123.456789] Memory cgroup out of memory: Killed process 4242 (python) total-vm:9000kB, anon-rss:8000kB, "
        "file-rss:0kB, shmem-rss:0kB, UID:1002 pgtables:40kB oom_score_adj:0",
        "[ 8123.456801] oom-kill:constraint=CONSTRAINT_MEMCG,task_memcg=/slurm/uid_1002/job_3/step_batch/task_0,"
        "task=python,pid=4242,uid=1002"])
    sim.append_lines(other, DMESG, ["[ 8123.5] NVRM: Xid (PCI:0000:00:05): 79, GPU has fallen off the bus."])
    sim.append_lines(node, SYSLOG, [syslog_line(JOB3, host, "systemd[1]: Started session-12.scope - Session 12 of User alice.")])
    sim.tick()
    sim.clock = lambda: JOB3 + dt.timedelta(minutes=20)
    sim.append_lines(node, DMESG, ["[ 9323.0] EXT4-fs (sdb1): mounted filesystem"])
    sim.tick()
    from azure.monitor.query import LogsQueryClient

    client = LogsQueryClient(DefaultAzureCredential(), endpoint=azure.endpoint + "/v1")
    customer = sim.get(WS)["properties"]["customerId"]

    def query(kql):
        result = client.query_workspace(customer, kql, timespan=(T0 - dt.timedelta(hours=1), T0 + dt.timedelta(hours=1)))
        table = result.tables[0]
        return [dict(zip(table.columns, row)) for row in table.rows]

    return query


def test_slurm_job_is_the_jobs_lines_and_its_nodes_lines_in_its_window(workspace):
    rows = workspace("SlurmJob(3)")
    messages = [r["Message"] for r in rows]
    assert [r["SourceTable"] for r in rows if r["JobId"] == 3].count("slurmctld_CL") == 4  # submit, allocate, exit, done
    assert "_job_complete: JobId=3 WEXITSTATUS 3" in messages
    assert "Launching batch job 3 for UID 1002" in messages and "done with job" in messages
    assert any("task_memcg=/slurm/uid_1002/job_3/" in m for m in messages)  # the kernel's, by its cgroup
    assert any("Killed process 4242" in m for m in messages)  # its node's kernel while job 3 ran
    assert "Started session-12.scope - Session 12 of User alice." in messages
    assert [(r["Message"], r["FilePath"].rsplit(".", 1)[1]) for r in rows if r["SourceTable"] == "slurmjobs_CL"
            and r["FilePath"].endswith((".out", ".err"))] == [("MemoryError", "err"), ("epoch 1", "out")]
    # not another job's lines, not another node's, not the node's outside the window
    assert all(r["JobId"] in (3, None) for r in rows)
    assert not [m for m in messages if re.search(r"JobId=(?!3\b)\d|batch job (?!3\b)\d", m)]
    assert not [m for m in messages if "Xid" in m or "EXT4" in m or m == "task 1"]
    assert [r["TimeGenerated"] for r in rows] == sorted(r["TimeGenerated"] for r in rows)
    assert workspace("SlurmJob(999)") == []


def test_an_array_task_is_called_by_its_own_id_and_has_its_archive_files(workspace):
    """slurmctld's JobId=8_1(11) is job 11; its archive files, job_8_1.*, carry no JobId of their own."""
    rows = workspace("SlurmJob(11)")
    assert {r["Message"] for r in rows if r["SourceTable"] == "slurmctld_CL"} == {
        "sched: Allocate JobId=8_1(11) NodeList=localhost #CPUs=1 Partition=debug",
        "_job_complete: JobId=8_1(11) WEXITSTATUS 0", "_job_complete: JobId=8_1(11) done"}
    archived = [r for r in rows if r["SourceTable"] == "slurmjobs_CL"]
    assert {r["FilePath"].rsplit("/", 1)[1] for r in archived} == {"job_8_1.alice.env", "job_8_1.alice.out"}
    assert "task 1" in [r["Message"] for r in archived] and {r["JobId"] for r in archived} == {None}
    assert not [r for r in workspace("SlurmJob(8)") if r["SourceTable"] == "slurmjobs_CL"]  # the array job isn't task 1


def test_slurm_job_takes_the_nodes_slurmctld_allocated(workspace, sim, nodes):
    """A job whose nodes wrote no line with its id: slurmctld's NodeList names them."""
    (seventh, h7), (eighth, h8), (ninth, h9) = nodes[2:5]
    sim.append_lines(sim.cluster.scheduler_vm_id, CTLD, [
        f"[2026-11-25T07:40:00.000] sched: Allocate JobId=50 NodeList={h7},{h8.upper()} #CPUs=2 Partition=hpc",
        "[2026-11-25T07:45:00.000] _job_complete: JobId=50 WEXITSTATUS 0", "[2026-11-25T07:45:00.000] _job_complete: JobId=50 done"])
    at = dt.datetime(2026, 11, 25, 7, 42, tzinfo=dt.timezone.utc)
    for machine, host in ((seventh, h7), (eighth, h8), (ninth, h9)):
        sim.append_lines(machine, SYSLOG, [syslog_line(at, host, f"cron[99]: heartbeat of {host}")])
    sim.tick()
    rows = workspace("SlurmJob(50) | where SourceTable == 'syslog_CL'")
    assert [r["Message"] for r in rows] == [f"heartbeat of {h7}", f"heartbeat of {h8}"]


def test_slurm_node_is_one_machines_lines_in_a_window(workspace, nodes):
    (_, host), (_, other) = nodes[:2]
    rows = workspace(f"SlurmNode('{host.upper()}', datetime(2026-11-25 07:39:27.5), datetime(2026-11-25 07:39:27.7))")
    assert rows and {r["Computer"] for r in rows} == {host}
    assert [r["Message"] for r in rows] == ["Launching batch job 7 for UID 1002", "Launching batch job 11 for UID 1002",
                                            "done with job", "done with job", "launch task StepId=10.0 request from "
                                            "UID:1002 GID:1002 HOST:127.0.0.1 PORT:59184", "Launching batch job 9 for UID 1002",
                                            "done with job"]
    errors = workspace(f"SlurmNode('{other}', datetime(2026-11-25), datetime(2026-11-26)) | where Process == 'kernel'")
    assert [r["Message"][:9] for r in errors] == ["NVRM: Xid"]


def test_failed_jobs_since_a_time_with_slurms_state(workspace):
    rows = workspace("SlurmFailedJobs(datetime(2026-11-25 07:39:00))")
    assert {(r["JobId"], r["State"], r["ExitCode"]) for r in rows} == {(3, "FAILED", 3), (9, "CANCELLED", None)}
    assert {r["Nodes"] for r in rows} == {"localhost"}
    assert workspace("SlurmFailedJobs(datetime(2026-11-25 07:39:28))") == [
        {"JobId": 9, "State": "CANCELLED", "ExitCode": None, "Ended": T0.replace(second=28, microsecond=6000), "Nodes": "localhost"}]


def test_a_call_the_simulator_cant_expand_is_refused_with_the_reason(workspace):
    from azure.core.exceptions import HttpResponseError as QueryError

    with pytest.raises(QueryError, match="only where it begins a statement"):
        workspace("union SlurmJob(3), SlurmJob(4)")
    with pytest.raises(QueryError, match="argument 'jobId' is missing"):
        workspace("SlurmJob()")
