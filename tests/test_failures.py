"""What users cause, what Azure does under load, and races: each ends in a clear outcome."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time

from controller.cli import main
from controller.simulator import SimResponse

SCHEDULER_DCRS, NODE_DCRS = 8, 5


def test_missing_workspace_is_one_line_naming_it(sim, azure, monkeypatch, capsys):
    monkeypatch.setenv("WORKSPACE_NAME", "nope")
    assert main(["plan"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "workspace nope not found" in err and "WORKSPACE_NAME" in err
    assert "Traceback" not in err


def test_missing_setting(azure, monkeypatch, capsys):
    monkeypatch.delenv("WORKSPACE_NAME")
    assert main(["run", "--once"]) == 2
    assert "WORKSPACE_NAME is not set" in capsys.readouterr().err


def test_bad_setting_value(azure, monkeypatch, capsys):
    monkeypatch.setenv("POLICY", "yolo")
    assert main(["validate"]) == 2
    err = capsys.readouterr().err
    assert "POLICY" in err and "upsert-only" in err


def test_missing_permission_names_the_role(sim, azure, capsys):
    sim.inject("DataCollectionRules_ListByResourceGroup", status=403, code="AuthorizationFailed",
               message="The client does not have authorization to perform action")
    assert main(["plan"]) == 2
    err = capsys.readouterr().err
    assert "data collection rules of resource group slurm-rg" in err
    assert "403 AuthorizationFailed" in err and "Monitoring Contributor" in err


def test_missing_credential(sim, azure, monkeypatch, capsys):
    monkeypatch.setenv("IDENTITY_HEADER", "wrong")  # the identity endpoint refuses us
    assert main(["plan"]) == 2
    err = capsys.readouterr().err
    assert "no Azure credential" in err and "az login" in err and "Traceback" not in err


def test_wrong_vm_id(sim, azure, monkeypatch, capsys):
    monkeypatch.setenv("VM_ID", sim.cluster.scheduler_vm_id + "x")
    assert main(["plan"]) == 2
    assert "VM_ID" in capsys.readouterr().err


def test_a_failed_change_stops_only_what_depends_on_it(sim, azure, capsys):
    def refuse_dmesg(request):
        if request.path.lower().endswith("/dmesg_raw_dcr"):
            return SimResponse(400, {"error": {"code": "InvalidPayload", "message": "refused for the test"}})
        return None

    sim.hook("DataCollectionRules_Create", refuse_dmesg)
    assert main(["run", "--once"]) == 1
    out = capsys.readouterr().out
    assert "failed 1" in out and "failed: + dcr dmesg_raw_dcr: 400 InvalidPayload: refused for the test" in out
    # its associations were not attempted; everything else was applied
    assert out.count("skipped: + association slurm-log-controller-dmesg_raw_dcr") == 1 + 2
    assert sim.calls["DataCollectionRules_Create"] == 10
    sim.clear_hooks()
    assert main(["run", "--once"]) == 0
    assert main(["plan"]) == 0


def test_throttling_is_retried_after_retry_after(sim, azure):
    sim.inject("DataCollectionRuleAssociations_Create", status=429, times=3, retry_after=1)
    sim.inject("DataCollectionRules_Create", status=503, times=1, retry_after=0)
    assert main(["run", "--once"]) == 0
    assert sim.responses[("DataCollectionRuleAssociations_Create", 429)] == 3
    assert main(["plan"]) == 0


def test_a_vm_deleted_between_list_and_put_is_not_a_failure(sim, azure, capsys):
    flexible = sim.vmss_members(sim.cluster.vmss_ids["htc"])
    doomed = flexible[0]

    def scale_in_first(request):
        sim.delete_vm(doomed)  # CycleCloud scales in while we work

    sim.hook("DataCollectionRuleAssociations_Create", scale_in_first)
    assert main(["run", "--once"]) == 0
    out = capsys.readouterr().out
    assert "failed 0" in out and "its machine is gone" in out
    sim.clear_hooks()
    assert main(["plan"]) == 0


def test_tables_are_ready_before_their_dcr(sim, azure):
    sim.lro_polls = 3  # table creation takes a while: a DCR created early would be refused
    assert main(["run", "--once"]) == 0
    assert sim.calls["OperationStatuses_Get"] >= 10 * 3
    assert all(t["properties"]["provisioningState"] == "Succeeded" for t in sim.list("table"))


def test_rendered_bodies_are_accepted_by_azure(sim, azure, tmp_path, monkeypatch, capsys):
    """`render` output, PUT as is, passes the same validation as the controller's own writes."""
    from azure.identity import DefaultAzureCredential
    from azure.mgmt.loganalytics import LogAnalyticsManagementClient
    from azure.mgmt.monitor import MonitorManagementClient
    from azure.mgmt.monitor.models import DataCollectionRuleResource

    monkeypatch.setenv("REGION", "westeurope")  # wrong: render takes the workspace's region, and says so
    assert main(["render", "--out", str(tmp_path / "out")]) == 0
    assert "REGION=westeurope ignored: workspace logs is in eastus" in capsys.readouterr().err
    dcrs = sorted((tmp_path / "out" / "data-collection-rules").glob("*/*_raw_dcr.json"))
    assert {json.loads(p.read_text())["location"] for p in dcrs} == {"eastus"}
    tables = sorted((tmp_path / "out" / "tables").glob("*_CL.json"))  # raw and parsed
    assert {p.parent.name for p in dcrs} == {"slurm", "os", "cyclecloud"} and len(dcrs) == len(tables) / 2 == 10
    kwargs = {"base_url": azure.endpoint}
    credential = DefaultAzureCredential()
    logs = LogAnalyticsManagementClient(credential, sim.subscription_id, **kwargs)
    monitor = MonitorManagementClient(credential, sim.subscription_id, **kwargs)
    for path in tables:
        logs.tables.begin_create_or_update("slurm-rg", "logs", path.stem, json.loads(path.read_text())).result()
    for path in dcrs:
        body = DataCollectionRuleResource.deserialize(json.loads(path.read_text()))
        monitor.data_collection_rules.create("slurm-rg", path.stem, body)
    for path in sorted((tmp_path / "out" / "functions").glob("*.json")):
        logs.saved_searches.create_or_update("slurm-rg", "logs", path.stem, json.loads(path.read_text()))
    assert len(sim.list("dcr")) == 10 and len(sim.list("function")) == 3
    # what render wrote is exactly what the controller wants: a plan finds only associations to make
    capsys.readouterr()
    assert main(["plan", "--json"]) == 3
    kinds = {c["kind"] for c in json.loads(capsys.readouterr().out)["changes"]}
    assert kinds == {"association"}


def test_a_conflict_is_skipped_and_retried_next_pass(sim, azure, capsys):
    sim.inject("DataCollectionRuleAssociations_Create", status=409, times=1, code="Conflict",
               message="Another operation is in progress on the resource")
    assert main(["run", "--once"]) == 0
    out = capsys.readouterr().out
    assert "skipped 1, failed 0" in out and "conflict (409 Conflict" in out and "retried next pass" in out
    assert main(["plan"]) == 3
    assert "Plan: 1 to create" in capsys.readouterr().out
    assert main(["run", "--once"]) == 0
    assert main(["plan"]) == 0


def test_a_vm_still_being_created_is_associated(sim, azure):
    (creating,) = sim.scale(sim.cluster.vmss_ids["htc"], 3, provisioning_state="Creating")
    assert main(["run", "--once"]) == 0
    assert len([a for a in sim.list("association") if a["id"].lower().startswith(creating.lower() + "/")]) == NODE_DCRS


def test_unreachable_endpoint_is_one_line(sim, azure, monkeypatch, capsys):
    with socket.socket() as closed:  # bound, never listening: connections to it are refused
        closed.bind(("127.0.0.1", 0))
        monkeypatch.setenv("ARM_ENDPOINT", f"https://127.0.0.1:{closed.getsockname()[1]}")
        assert main(["plan"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach Azure Resource Manager" in err and "ARM_ENDPOINT" in err


def test_an_azure_failure_outside_observe_is_one_line_too(sim, azure, capsys):
    sim.inject("Workspaces_Get", status=400, code="BadRequest", message="something Azure didn't like")
    assert main(["plan"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "400 BadRequest: something Azure didn't like" in err


def test_no_credential_at_all_is_one_line_naming_what_was_tried(sim, azure, tmp_path):
    """No managed identity endpoint, no AZURE_* variables, no az/azd/pwsh, no token cache: the
    whole DefaultAzureCredential chain fails, and fast (its IMDS probe waits 1 s at most)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_", "MSI_"))}
    empty = tmp_path / "empty"
    empty.mkdir()
    env.update(HOME=str(empty), PATH=str(empty))
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "controller.cli", "plan"], env=env, capture_output=True, text=True,
                          cwd=empty, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: workspace logs: no Azure credential: tried environment")
    for tried in ("workload identity", "managed identity", "Azure CLI"):
        assert tried in done.stderr
    assert "enable its managed identity" in done.stderr and "`az login`" in done.stderr
    assert time.monotonic() - started < 20
    assert sim.calls == {}  # nothing reached Azure


def test_a_token_arm_refuses_is_not_called_a_missing_credential(sim, azure, capsys):
    sim.inject("Workspaces_Get", status=401, code="InvalidAuthenticationToken", message="The access token is invalid.")
    assert main(["plan"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "401 InvalidAuthenticationToken" in err and "credential was refused" in err


def test_a_403_on_a_read_names_the_role_and_its_scope(sim, azure, capsys):
    sim.inject("Tables_ListByWorkspace", status=403, code="AuthorizationFailed", message="no")
    assert main(["plan"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "grant the controller's identity Log Analytics Contributor on workspace logs (resource group slurm-rg)" in err
    sim.inject("VirtualMachines_List", status=403, code="AuthorizationFailed", message="no")
    assert main(["plan"]) == 2
    assert "grant the controller's identity Reader on resource group slurm-rg" in capsys.readouterr().err


def test_a_403_on_a_write_names_the_role_and_its_scope(sim, azure, monkeypatch, capsys):
    """DCRs in their own resource group, so the association's scope (the machine's) is told apart."""
    sim.add_resource_group("dcr-rg")
    monkeypatch.setenv("RESOURCE_GROUP", "dcr-rg")
    monkeypatch.setenv("WORKSPACE_RESOURCE_GROUP", "slurm-rg")
    sim.inject("Tables_CreateOrUpdate", status=403, times=1, code="AuthorizationFailed", message="no")
    sim.inject("DataCollectionRules_Create", status=403, times=1, code="AuthorizationFailed", message="no")
    sim.inject("DataCollectionRuleAssociations_Create", status=403, times=1, code="AuthorizationFailed", message="no")
    assert main(["run", "--once"]) == 1
    out = capsys.readouterr().out
    assert "failed 3" in out
    grant = "403 AuthorizationFailed: no; grant the controller's identity"
    assert re.search(rf"failed: \+ table \w+: {grant} Log Analytics Contributor on workspace logs \(resource group slurm-rg\)\n", out)
    assert re.search(rf"failed: \+ dcr \w+: {grant} Monitoring Contributor on resource group dcr-rg\n", out)
    assert re.search(rf"failed: \+ association [\w-]+: {grant} Monitoring Contributor on resource group slurm-rg\n", out)


def test_a_hung_response_costs_two_read_timeouts_and_one_line(sim, azure, monkeypatch, capsys):
    monkeypatch.setenv("HTTP_READ_TIMEOUT", "1")
    sim.hang("Tables_ListByWorkspace", seconds=60, times=-1)
    started = time.monotonic()
    try:
        assert main(["run", "--once"]) == 1
    finally:
        sim.clear_faults()
    assert time.monotonic() - started < 10  # two attempts of 1 s each, not 4 of 60 s
    assert sim.calls["Tables_ListByWorkspace"] == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did not answer in time" in err and "HTTP_READ_TIMEOUT" in err


def test_a_hung_write_fails_only_its_change(sim, azure, monkeypatch, capsys):
    monkeypatch.setenv("HTTP_READ_TIMEOUT", "1")
    monkeypatch.setenv("APPLY_CONCURRENCY", "1")  # the first DCR PUT takes both hangs
    sim.hang("DataCollectionRules_Create", seconds=60, times=2)
    assert main(["run", "--once"]) == 1
    out = capsys.readouterr().out
    assert "failed 1" in out and sim.calls["DataCollectionRules_Create"] == 10 + 1
    (line,) = [line for line in out.splitlines() if "failed: " in line]
    assert "did not answer in time" in line and "HTTP_READ_TIMEOUT" in line


def test_a_token_endpoint_that_never_answers_costs_two_read_timeouts(sim, azure, monkeypatch, capsys):
    with socket.socket() as silent:  # the kernel takes the connections; nobody ever answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        monkeypatch.setenv("IDENTITY_ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}/msi/token")
        monkeypatch.setenv("HTTP_READ_TIMEOUT", "1")
        started = time.monotonic()
        assert main(["plan"]) == 2
        assert time.monotonic() - started < 10  # azure-core's default: 300 s per read, 3 retries
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no Azure credential: tried environment" in err and "managed identity" in err
