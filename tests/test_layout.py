"""DCR_LAYOUT, through the CLI against the simulator: one DCR per role, and switching to it from the
default layout with every machine collecting every one of its components' files at every point."""

from __future__ import annotations

import json
import os

import pytest

from controller.cli import main
from controller.components import load_components
from controller.simulator import ArmSimulator
from tests.support import RG, SUB

COMPONENTS = load_components()
PER_COMPONENT = {c.rule for c in COMPONENTS}


@pytest.fixture
def cluster(monkeypatch, tmp_path):
    """A scheduler, Uniform and Flexible nodes, login nodes and an HA scheduler."""
    sim = ArmSimulator(subscription_id=SUB)
    sim.add_workspace(resource_group=RG, name="logs", location="eastus")
    sim.cluster = sim.add_cyclecloud_cluster(
        resource_group=RG, cluster_name="slurm1", location="eastus",
        nodearrays={"hpc": ("Uniform", 2), "gpu": ("Flexible", 2), "login": ("Flexible", 1), "scheduler-ha": ("Flexible", 1)},
    )
    monkeypatch.chdir(tmp_path)
    with sim.serve() as server:
        env = {**server.env(), "SUBSCRIPTION_ID": SUB, "RESOURCE_GROUP": RG, "WORKSPACE_NAME": "logs", "CLUSTER_NAME": "slurm1"}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield sim


def machines(sim) -> dict[str, str]:
    """Every association target and its role: the scheduler, each Uniform scale set, each Flexible member."""
    roles = {"hpc": "nodes", "gpu": "nodes", "login": "login", "scheduler-ha": "scheduler"}
    found = {sim.cluster.scheduler_vm_id.lower(): "scheduler", sim.cluster.vmss_ids["hpc"].lower(): "nodes"}
    for nodearray in ("gpu", "login", "scheduler-ha"):
        found.update(dict.fromkeys((vm.lower() for vm in sim.vmss_members(sim.cluster.vmss_ids[nodearray])), roles[nodearray]))
    return found


def rules_on(sim, machine: str) -> list[dict]:
    prefix = machine + "/providers/microsoft.insights/datacollectionruleassociations/"
    rules = {d["id"].lower(): d for d in sim.list("dcr")}
    return [
        rules[a["properties"]["dataCollectionRuleId"].lower()]
        for a in sim.list("association")
        if a["id"].lower().startswith(prefix) and a["properties"]["dataCollectionRuleId"].lower() in rules
    ]


def collected(rule: dict) -> set[tuple[str, str]]:
    """(file pattern, table) of each file a DCR's sources read and each table their flows fill."""
    props = rule["properties"]
    return {
        (pattern, flow["outputStream"].removeprefix("Custom-"))
        for source in props["dataSources"]["logFiles"]
        for flow in props["dataFlows"]
        if source["streams"][0] in flow["streams"]
        for pattern in source["filePatterns"]
    }


def assert_every_machine_collects_everything(sim):
    for machine, role in machines(sim).items():
        have = set().union(*(collected(r) for r in rules_on(sim, machine)))
        for c in COMPONENTS:
            if role in {r.value for r in c.roles}:
                want = {(p, t) for p in c.files for t in (c.table, c.parsed_table)}
                assert want <= have, (machine, c.pattern, want - have)


def dcr_names(sim) -> set[str]:
    return {d["name"] for d in sim.list("dcr")}


def test_per_role_is_one_association_per_machine_per_dcr(cluster, monkeypatch):
    sim = cluster
    monkeypatch.setenv("DCR_LAYOUT", "per-role")
    assert main(["run", "--once"]) == 0
    # 8 scheduler components split at 5 a DCR (10 data flows); login and nodes fit in one each.
    assert dcr_names(sim) == {"slurm_scheduler_dcr", "slurm_scheduler_2_dcr", "slurm_login_dcr", "slurm_nodes_dcr"}
    for machine, role in machines(sim).items():
        expected = {"slurm_scheduler_dcr", "slurm_scheduler_2_dcr"} if role == "scheduler" else {f"slurm_{role}_dcr"}
        assert sorted(r["name"] for r in rules_on(sim, machine)) == sorted(expected), machine
    assert_every_machine_collects_everything(sim)
    # the simulated agent collects a node's file through the role's DCR into both tables
    vm = sim.vmss_members(sim.cluster.vmss_ids["gpu"])[0]
    sim.append_lines(vm, "/var/log/slurmd/slurmd.log", ["[2026-12-01T12:00:00.000] slurmd started"])
    sim.tick()
    ws = next(iter(sim.list("workspaces")))["id"]
    assert sim.log_rows(ws, "slurmd_raw_CL") and sim.log_rows(ws, "slurmd_CL")
    sim.reset_calls()
    assert main(["run", "--once"]) == 0 and not sim.writes()  # in sync: the per-role DCRs read back equal


def test_switching_layouts_under_sync_leaves_no_machine_uncovered(cluster, monkeypatch, capsys):
    sim = cluster
    assert main(["run", "--once"]) == 0
    assert dcr_names(sim) == PER_COMPONENT
    assert_every_machine_collects_everything(sim)

    monkeypatch.setenv("DCR_LAYOUT", "per-role")
    monkeypatch.setenv("POLICY", "sync")
    # a pass whose new DCR can't be written deletes nothing of the old layout
    sim.inject("DataCollectionRules_Create", status=400, code="InvalidPayload", message="refused for the test")
    assert main(["run", "--once"]) != 0
    assert PER_COMPONENT <= dcr_names(sim) and len(dcr_names(sim)) < len(PER_COMPONENT) + 4
    assert "held back" in capsys.readouterr().out
    assert_every_machine_collects_everything(sim)

    assert main(["run", "--once"]) == 0
    assert dcr_names(sim) == {"slurm_scheduler_dcr", "slurm_scheduler_2_dcr", "slurm_login_dcr", "slurm_nodes_dcr"}
    assert_every_machine_collects_everything(sim)
    assert not any(a["name"].endswith("_raw_dcr") for a in sim.list("association"))
    assert main(["plan", "--detailed-exitcode"]) == 0


def test_switching_under_upsert_only_keeps_the_old_dcrs_as_orphans(cluster, monkeypatch, capsys):
    sim = cluster
    assert main(["run", "--once"]) == 0
    monkeypatch.setenv("DCR_LAYOUT", "per-role")
    assert main(["run", "--once"]) == 0
    assert dcr_names(sim) == PER_COMPONENT | {"slurm_scheduler_dcr", "slurm_scheduler_2_dcr", "slurm_login_dcr", "slurm_nodes_dcr"}
    capsys.readouterr()
    assert main(["plan", "--json"]) == 0
    kept = json.loads(capsys.readouterr().out)["kept"]
    assert {k["id"].rsplit("/", 1)[-1] for k in kept if k["kind"] == "dcr"} == PER_COMPONENT
    assert main(["plan"]) == 0
    assert "POLICY=sync would delete them" in capsys.readouterr().out


def test_an_unknown_layout_is_a_user_error(cluster, monkeypatch, capsys):
    monkeypatch.setenv("DCR_LAYOUT", "per-node")
    assert main(["plan"]) == 2
    err = capsys.readouterr().err
    assert "DCR_LAYOUT" in err and "per-role" in err and "Traceback" not in err


def test_a_component_added_at_the_end_joins_the_last_dcr_and_renames_none():
    import dataclasses

    from controller.components import Role
    from controller.desired import role_batches

    scheduler = tuple(c for c in COMPONENTS if Role.SCHEDULER in c.roles)
    before = role_batches(scheduler)
    extra = dataclasses.replace(scheduler[0], pattern="munge")
    after = role_batches((*scheduler, extra))
    assert [len(b) for b in before] == [5, 3] and after[0] == before[0] and after[1] == (*before[1], extra)
    # six more fill the second DCR to 5 components (10 data flows), then open a third
    many = role_batches((*scheduler, *(dataclasses.replace(extra, pattern=f"extra{i}") for i in range(6))))
    assert [len(b) for b in many] == [5, 5, 4] and many[:1] == before[:1]


def test_render_writes_the_per_role_dcrs_and_azure_takes_them_as_they_are(cluster, monkeypatch, tmp_path, capsys):
    """`render` under DCR_LAYOUT=per-role: the role DCRs, PUT as written, are what `run` wants."""
    from azure.identity import DefaultAzureCredential
    from azure.mgmt.monitor import MonitorManagementClient
    from azure.mgmt.monitor.models import DataCollectionRuleResource

    monkeypatch.setenv("DCR_LAYOUT", "per-role")
    assert main(["render", "--out", str(tmp_path / "out")]) == 0
    files = sorted((tmp_path / "out" / "data-collection-rules").glob("*/*.json"))
    assert {f"{p.parent.name}/{p.stem}" for p in files} == {
        "scheduler/slurm_scheduler_dcr", "scheduler/slurm_scheduler_2_dcr", "login/slurm_login_dcr", "nodes/slurm_nodes_dcr"}
    assert main(["run", "--once"]) == 0  # the tables, and DCRs to compare the rendered ones with
    monitor = MonitorManagementClient(DefaultAzureCredential(), SUB, base_url=os.environ["ARM_ENDPOINT"])
    for path in files:
        monitor.data_collection_rules.create(RG, path.stem, DataCollectionRuleResource.deserialize(json.loads(path.read_text())))
    capsys.readouterr()
    assert main(["plan", "--json"]) == 0, capsys.readouterr().out  # what render wrote is what run wants


def test_a_directory_wildcard_is_named_with_the_dcrs_of_the_layout(cluster, monkeypatch, tmp_path, capsys):
    path = tmp_path / "components.yaml"
    path.write_text("components:\n- {pattern: app, group: os, files: ['/var/log/*/app.log'], roles: [scheduler, nodes]}\n")
    monkeypatch.setenv("DCR_LAYOUT", "per-role")
    assert main(["validate", "--config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "warning: slurm_scheduler_dcr and slurm_nodes_dcr watch /var/log/*/app.log: a wildcard" in err
    assert "slurm_scheduler_dcr+slurm_nodes_dcr" in out and "DCR_LAYOUT=per-role" in out
    assert main(["plan", "--config", str(path)]) in (0, 3)
    assert "slurm_scheduler_dcr and slurm_nodes_dcr watch /var/log/*/app.log" in capsys.readouterr().out
