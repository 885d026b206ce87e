"""Desired state and the plan: pure functions, no Azure."""

import dataclasses

from controller.components import load_components
from controller.desired import Target, desired_state
from controller.plan import ObservedState, PlanPolicy, plan_changes
from controller.resources import ASSOCIATION_PREFIX, Association, Cluster, ScaleSet
from controller.settings import Policy

SUB = "00000000-0000-0000-0000-000000000000"
RG = f"/subscriptions/{SUB}/resourceGroups/rg"
WS = f"{RG}/providers/Microsoft.OperationalInsights/workspaces/ws"
SCHEDULER = f"{RG}/providers/Microsoft.Compute/virtualMachines/scheduler"
UNIFORM = f"{RG}/providers/Microsoft.Compute/virtualMachineScaleSets/hpc"
FLEX = f"{RG}/providers/Microsoft.Compute/virtualMachineScaleSets/htc"
FLEX_VMS = tuple(f"{RG}/providers/Microsoft.Compute/virtualMachines/htc_{i}" for i in range(3))
TARGET = Target(SUB, "rg", WS, "eastus", "slurm1")
CLUSTER = Cluster((SCHEDULER,), (ScaleSet(UNIFORM, "Uniform"), ScaleSet(FLEX, "Flexible", FLEX_VMS)))
POLICY = PlanPolicy("slurm1")
COMPONENTS = load_components()
SCHEDULER_DCRS = 8  # slurmctld slurmdb slurmrestd slurmjobs jetpack jetpackd healthagent syslog
NODE_DCRS = 5  # slurmd jetpack jetpackd dmesg syslog


def desired(cluster=CLUSTER):
    return desired_state(COMPONENTS, TARGET, cluster)


def converged(state):
    return ObservedState(state.tables, state.rules, state.associations)


def test_roles_become_associations_on_the_right_machines():
    state = desired()
    targets = {}
    for a in state.associations:
        targets.setdefault(a.rule_id.rsplit("/", 1)[-1], set()).add(a.target_id)
    assert targets["slurmctld_raw_dcr"] == {SCHEDULER}
    # nodes: the Uniform scale set itself, each VM of the Flexible one, never the Flexible set
    assert targets["slurmd_raw_dcr"] == {UNIFORM, *FLEX_VMS}
    assert targets["syslog_raw_dcr"] == {SCHEDULER, UNIFORM, *FLEX_VMS}
    assert all(FLEX not in t for t in targets.values())
    assert len(state.associations) == SCHEDULER_DCRS + NODE_DCRS * 4
    assert all(a.name.startswith(ASSOCIATION_PREFIX) for a in state.associations)


def test_everything_is_created_from_nothing_in_dependency_order():
    plan = plan_changes(desired(), ObservedState(), POLICY)
    kinds = [c.kind for c in plan.changes]
    assert kinds == sorted(kinds, key=["table", "dcr", "association"].index)
    assert plan.counts() == {"create": 10 + 10 + 28}
    assert all(r.tags == {"managed-by": "slurm-log-controller", "slurm-log-controller-cluster": "slurm1"} for r in desired().rules)


def test_in_sync_is_an_empty_plan():
    state = desired()
    plan = plan_changes(state, converged(state), POLICY)
    assert plan.empty and plan.in_sync == {"table": 10, "dcr": 10, "association": 28}
    assert "No changes" in plan.render()


def test_changed_file_pattern_is_a_field_level_update():
    state = desired()
    rules = tuple(
        dataclasses.replace(r, file_patterns=("/var/log/old.log",), tags={**r.tags, "costcenter": "hpc"}, location="westus")
        if r.name == "slurmd_raw_dcr" else r
        for r in state.rules
    )
    plan = plan_changes(state, ObservedState(state.tables, rules, state.associations), POLICY)
    (change,) = plan.changes
    assert (change.action, change.kind, change.resource.name) == ("update", "dcr", "slurmd_raw_dcr")
    (field,) = change.fields
    assert field.path == "filePatterns" and field.old == ["/var/log/old.log"]
    assert "/var/log/slurmd/slurmd.log" in field.new
    assert '~ dcr slurmd_raw_dcr' in plan.render() and "filePatterns" in plan.render()
    # the PUT keeps a tag someone else added: a tag is not ours to remove
    assert change.resource.tags["costcenter"] == "hpc" and change.resource.tags["managed-by"] == "slurm-log-controller"
    assert change.resource.location == "westus"  # Azure refuses to move a DCR: update it where it is


def test_unowned_resources_are_never_updated_or_deleted():
    state = desired()
    foreign_tags = {"owner": "someone"}
    rules = tuple(
        dataclasses.replace(r, file_patterns=("/x",), tags=foreign_tags) if r.name == "dmesg_raw_dcr" else r
        for r in state.rules
    )
    stranger = dataclasses.replace(state.rules[0], name="theirs_dcr", tags=foreign_tags)
    observed = ObservedState(state.tables, rules + (stranger,), state.associations)
    for mode in Policy:
        plan = plan_changes(state, observed, PlanPolicy("slurm1", mode, True))
        assert plan.empty, plan.render()
        (skip,) = plan.skipped
        assert skip.id.endswith("dmesg_raw_dcr") and "not owned" in skip.reason


def test_upsert_only_never_deletes_and_sync_deletes_only_what_we_own():
    full = desired()
    smaller = desired(Cluster((SCHEDULER,), (ScaleSet(UNIFORM, "Uniform"),)))
    observed = converged(full)
    kept = plan_changes(smaller, observed, POLICY)
    assert kept.empty and len(kept.kept) == NODE_DCRS * 3
    assert "POLICY=sync would delete them" in kept.render()
    plan = plan_changes(smaller, observed, PlanPolicy("slurm1", Policy.SYNC))
    deleted = {c.resource.target_id for c in plan.changes}
    assert {c.action for c in plan.changes} == {"delete"} and deleted == set(FLEX_VMS)
    assert len(plan.changes) == NODE_DCRS * 3


def test_tables_are_deleted_only_when_explicitly_allowed():
    state = desired()
    fewer = dataclasses.replace(state, tables=state.tables[1:], rules=state.rules[1:], associations=state.associations[1:])
    for allow, expected in ((False, {"dcr", "association"}), (True, {"dcr", "association", "table"})):
        plan = plan_changes(fewer, converged(state), PlanPolicy("slurm1", Policy.SYNC, allow))
        assert {c.kind for c in plan.changes} == expected
    # deletes run associations first, then DCRs, then tables
    assert [c.kind for c in plan.changes] == ["association", "dcr", "table"]


def test_another_clusters_resources_are_not_ours():
    state = desired()
    theirs = tuple(dataclasses.replace(t, owner="other") for t in state.tables)
    plan = plan_changes(desired_state(COMPONENTS[:1], TARGET, CLUSTER), ObservedState(theirs), PlanPolicy("slurm1", Policy.SYNC, True))
    assert all(c.action != "delete" for c in plan.changes)


def test_an_association_made_by_hand_counts_as_in_sync():
    state = desired()
    manual = tuple(
        Association(a.target_id, a.rule_id, "made-by-associate-dcrs-sh") if a.target_id == SCHEDULER else a
        for a in state.associations
    )
    plan = plan_changes(state, ObservedState(state.tables, state.rules, manual), PlanPolicy("slurm1", Policy.SYNC))
    assert plan.empty, plan.render()


def test_plan_json_is_stable():
    plan = plan_changes(desired(), ObservedState(), POLICY)
    data = plan.to_dict()
    assert data["summary"] == {"create": 48, "update": 0, "delete": 0}
    assert data["changes"][0] == {
        "action": "create",
        "kind": "table",
        "name": "slurmctld_raw_CL",
        "id": f"{WS}/tables/slurmctld_raw_CL",
        "fields": [],
    }


def test_report_counts_states_after_apply_and_nodes_by_role():
    from controller.apply import APPLIED, FAILED, ApplyResult, ChangeResult
    from controller.report import summarize

    plan = plan_changes(desired(), ObservedState(), POLICY)
    failed_vm = FLEX_VMS[0].lower()
    results = tuple(
        ChangeResult(c, FAILED if c.kind == "association" and c.resource.target_id.lower() == failed_vm else APPLIED)
        for c in plan.changes
    )
    cluster = Cluster((SCHEDULER,), (ScaleSet(UNIFORM, "Uniform", capacity=4), ScaleSet(FLEX, "Flexible", FLEX_VMS)))
    report = summarize(plan, cluster, ApplyResult(results))
    assert report.resources[("association", "missing")] == NODE_DCRS
    assert report.resources[("association", "in_sync")] == SCHEDULER_DCRS + NODE_DCRS * 3
    assert report.resources[("table", "in_sync")] == 10 and report.resources[("dcr", "drifted")] == 0
    assert report.nodes == {("scheduler", True): 1, ("scheduler", False): 0, ("nodes", True): 4 + 2, ("nodes", False): 1}
    assert report.uncovered == {failed_vm} and failed_vm not in report.reached
    # before apply (what `plan` sees) everything is missing
    assert summarize(plan, cluster).resources[("dcr", "missing")] == 10


def test_big_plans_name_a_few_machines_per_dcr_and_count_the_rest():
    many = tuple(f"{RG}/providers/Microsoft.Compute/virtualMachines/htc_{i}" for i in range(40))
    state = desired(Cluster((SCHEDULER,), (ScaleSet(FLEX, "Flexible", many),)))
    text = plan_changes(state, ObservedState(), POLICY).render()
    assert text.count("+ association slurm-log-controller-slurmd_raw_dcr  (on") == 5
    assert "+ association slurm-log-controller-slurmd_raw_dcr  ... and 35 more machines" in text
    assert "+ association slurm-log-controller-slurmctld_raw_dcr  (on scheduler)" in text
    assert len(text.splitlines()) < 100


def test_column_type_spelling_is_not_drift():
    state = desired()
    tables = tuple(dataclasses.replace(t, columns=tuple((n, k.lower()) for n, k in t.columns)) for t in state.tables)
    assert plan_changes(state, ObservedState(tables, state.rules, state.associations), POLICY).empty


def test_a_role_with_no_machine_is_pointed_out():
    assert plan_changes(desired(), ObservedState(), POLICY).notes == ()
    plan = plan_changes(desired(Cluster()), ObservedState(), POLICY)
    assert len(plan.notes) == 2
    text = plan.render()
    assert "! no scheduler VM found" in text and "VM_ID" in text
    assert "! no node scale set found" in text and "VMSS_ID" in text
    # a nodearray scaled to zero is normal: its scale set is still there
    empty = Cluster((SCHEDULER,), (ScaleSet(FLEX, "Flexible", ()),))
    assert plan_changes(desired(empty), ObservedState(), POLICY).notes == ()
