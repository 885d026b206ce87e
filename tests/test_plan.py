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
    """Without the workspace functions: tests/test_functions.py plans those."""
    return dataclasses.replace(desired_state(COMPONENTS, TARGET, cluster), functions=())


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
    assert plan.counts() == {"create": 20 + 10 + 28}  # a raw and a parsed table per component
    assert all(r.tags == {"managed-by": "slurm-log-controller", "slurm-log-controller-cluster": "slurm1"} for r in desired().rules)


def test_in_sync_is_an_empty_plan():
    state = desired()
    plan = plan_changes(state, converged(state), POLICY)
    assert plan.empty and plan.in_sync == {"table": 20, "dcr": 10, "association": 28, "function": 0}
    assert "No changes" in plan.render()


def test_changed_file_pattern_is_a_field_level_update():
    state = desired()
    rules = tuple(
        dataclasses.replace(
            r, sources=(dataclasses.replace(r.sources[0], file_patterns=("/var/log/old.log",)),),
            tags={**r.tags, "costcenter": "hpc"}, location="East US",
        )
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
    assert change.resource.location == "East US"  # Azure's other spelling of eastus: updated where it is


def test_unowned_resources_are_never_updated_or_deleted():
    state = desired()
    foreign_tags = {"owner": "someone"}
    rules = tuple(
        dataclasses.replace(r, sources=(dataclasses.replace(r.sources[0], file_patterns=("/x",)),), tags=foreign_tags) if r.name == "dmesg_raw_dcr" else r
        for r in state.rules
    )
    stranger = dataclasses.replace(state.rules[0], name="theirs_dcr", tags=foreign_tags)
    observed = ObservedState(state.tables, rules + (stranger,), state.associations)
    for mode in Policy:
        plan = plan_changes(state, observed, PlanPolicy("slurm1", mode, True))
        assert plan.empty, plan.render()
        (skip,) = plan.skipped
        assert skip.id.endswith("dmesg_raw_dcr") and "no ownership mark" in skip.reason
        assert "differs in filePatterns" in skip.reason and "ADOPT=unowned" in skip.reason
        assert not plan.converged


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
    assert data["format_version"] == 1 and data["converged"] is False
    assert data["summary"] == {"create": 58, "update": 0, "delete": 0, "adopt": 0, "blocked": 0}
    assert data["changes"][0] == {
        "action": "create",
        "kind": "table",
        "name": "slurmctld_raw_CL",
        "id": f"{WS}/tables/slurmctld_raw_CL",
        "fields": [],
        "adopted_from": None,
        "content": {
            "plan": "Analytics",
            "retentionInDays": 30,
            "totalRetentionInDays": None,
            "schema.columns": ["TimeGenerated:datetime", "RawData:string", "Computer:string", "FilePath:string"],
            "owner": "slurm1",
        },
    }
    (on_vm,) = [c for c in data["changes"] if c["kind"] == "association" and c["target"] == FLEX_VMS[0] and "slurmd" in c["name"]]
    assert on_vm["placement"] == "scale set htc (nodes, Flexible)"


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
    assert report.resources[("table", "in_sync")] == 20 and report.resources[("dcr", "drifted")] == 0
    assert report.nodes == {
        ("scheduler", True): 1, ("scheduler", False): 0, ("login", True): 0, ("login", False): 0,
        ("nodes", True): 4 + 2, ("nodes", False): 1,
    }
    assert report.uncovered == {failed_vm} and failed_vm not in report.reached
    # before apply (what `plan` sees) everything is missing
    assert summarize(plan, cluster).resources[("dcr", "missing")] == 10


def test_big_plans_name_a_few_machines_per_dcr_and_count_the_rest():
    many = tuple(f"{RG}/providers/Microsoft.Compute/virtualMachines/htc_{i}" for i in range(40))
    state = desired(Cluster((SCHEDULER,), (ScaleSet(FLEX, "Flexible", many),)))
    text = plan_changes(state, ObservedState(), POLICY).render()
    assert "+ association slurm-log-controller-slurmd_raw_dcr on 40 targets\n" in text
    assert "      scale set htc (nodes, Flexible): htc_0, htc_1, htc_2, htc_3, htc_4 and 35 more\n" in text
    # the scheduler is never hidden among the "more": each group names its own machines
    syslog = text[text.index("+ association slurm-log-controller-syslog_raw_dcr"):].splitlines()[:3]
    assert syslog == [
        "+ association slurm-log-controller-syslog_raw_dcr on 41 targets",
        "        scheduler VM scheduler",
        "        scale set htc (nodes, Flexible): htc_0, htc_1, htc_2, htc_3, htc_4 and 35 more",
    ]
    assert len(text.splitlines()) < 200  # grows with the components, not the machines


def test_column_type_spelling_is_not_drift():
    state = desired()
    tables = tuple(dataclasses.replace(t, columns=tuple((n, k.lower()) for n, k in t.columns)) for t in state.tables)
    assert plan_changes(state, ObservedState(tables, state.rules, state.associations), POLICY).empty


def test_no_node_scale_set_is_pointed_out():
    assert plan_changes(desired(), ObservedState(), POLICY).notes == ()
    plan = plan_changes(desired(Cluster((SCHEDULER,))), ObservedState(), POLICY)
    assert len(plan.notes) == 1
    assert "! no node scale set found" in plan.render() and "VMSS_ID" in plan.render()
    # a nodearray scaled to zero is normal: its scale set is still there
    empty = Cluster((SCHEDULER,), (ScaleSet(FLEX, "Flexible", ()),))
    assert plan_changes(desired(empty), ObservedState(), POLICY).notes == ()


def test_creates_show_what_they_will_contain_grouped_by_where_the_machines_are():
    text = plan_changes(desired(), ObservedState(), POLICY).render()
    table = text[text.index("+ table slurmd_raw_CL"):].splitlines()[:4]
    assert table == [
        "+ table slurmd_raw_CL",
        "        columns: TimeGenerated:dateTime, RawData:string, Computer:string, FilePath:string",
        "        plan: Analytics, retention 30 days (total 30)",
        "        owner: cluster slurm1",
    ]
    rule = text[text.index("+ dcr slurmd_raw_dcr"):].splitlines()[:6]
    kql = len(next(c for c in COMPONENTS if c.pattern == "slurmd").transform_kql)
    assert rule[1:] == [
        "        files: /var/log/slurmd/slurmd.log, /var/log/slurm/slurmd.log",
        "        stream: Custom-Text-slurmd_raw_CL -> Custom-slurmd_raw_CL (transform: source)",
        f"        parsed: Custom-Text-slurmd_raw_CL -> Custom-slurmd_CL (transform: {kql} characters of KQL)",
        "        workspace: ws",
        "        location: eastus (kind Linux)",
    ]
    nodes = text[text.index("+ association slurm-log-controller-slurmd_raw_dcr"):].splitlines()[:3]
    assert nodes == [
        "+ association slurm-log-controller-slurmd_raw_dcr on 4 targets",
        "        scale set hpc (nodes, Uniform, 0 instances)",
        "        scale set htc (nodes, Flexible): htc_0, htc_1, htc_2",
    ]
    assert "\033[" not in text


def test_colour_only_when_asked():
    plan = plan_changes(desired(), ObservedState(), POLICY)
    coloured = plan.render(colour=True)
    assert "\033[32m+ table slurmctld_raw_CL\033[0m" in coloured
    assert coloured.replace("\033[32m", "").replace("\033[0m", "") == plan.render()


def unowned(state, **changes):
    """The world the reference document's scripts leave: our names, no ownership mark."""
    tables = tuple(dataclasses.replace(t, owner=changes.get("table_owner")) for t in state.tables)
    rules = tuple(dataclasses.replace(r, tags=changes.get("tags", {})) for r in state.rules)
    manual = tuple(dataclasses.replace(a, name="associate-dcrs-sh") for a in state.associations)
    return ObservedState(tables, rules, manual)


def test_resources_with_our_names_but_no_mark_are_blocked_and_explained():
    state = desired()
    plan = plan_changes(state, unowned(state), POLICY)
    assert plan.empty and not plan.converged
    assert {s.kind for s in plan.skipped} == {"table", "dcr"} and len(plan.skipped) == 30
    assert all("ADOPT=unowned" in s.reason and s.owner is None for s in plan.skipped)
    # hand-made associations to the same DCR on the same machine are in place already
    assert plan.in_sync["association"] == len(state.associations)
    assert plan.headline().startswith("No changes can be made, but 30 resources with our names are not ours")


def test_adopt_unowned_takes_them_over_with_an_update_of_the_mark():
    state = desired()
    plan = plan_changes(state, unowned(state), dataclasses.replace(POLICY, adopt=frozenset({None})))
    assert not plan.skipped and plan.counts() == {"update": 30}
    assert all(c.adopted_from == "nobody" for c in plan.changes)
    table = next(c for c in plan.changes if c.kind == "table")
    assert [(f.path, f.old, f.new) for f in table.fields] == [("owner", None, "slurm1")]
    assert "(adopted: was owned by nobody)" in plan.render() and "(30 adopted)" in plan.headline()
    # once adopted, they are ours: `sync` may delete them, hand-made associations included
    fewer = dataclasses.replace(state, tables=state.tables[1:], rules=state.rules[1:], associations=state.associations[1:])
    adopted = ObservedState(state.tables, state.rules, unowned(state).associations)
    deletes = plan_changes(fewer, adopted, PlanPolicy("slurm1", Policy.SYNC, True, frozenset({None})))
    assert {c.kind for c in deletes.changes} == {"table", "dcr", "association"}


def test_another_cluster_names_resources_are_adopted_only_by_name():
    state = desired()
    typo = unowned(state, table_owner="slurm1x", tags={"managed-by": "slurm-log-controller", "slurm-log-controller-cluster": "slurm1x"})
    blocked = plan_changes(state, typo, POLICY)
    assert len(blocked.skipped) == 30 and all(s.owner == "slurm1x" for s in blocked.skipped)
    assert "ADOPT=cluster:slurm1x" in blocked.skipped[0].reason
    assert plan_changes(state, typo, dataclasses.replace(POLICY, adopt=frozenset({None}))).skipped == blocked.skipped
    taken = plan_changes(state, typo, dataclasses.replace(POLICY, adopt=frozenset({"slurm1x"})))
    assert taken.counts() == {"update": 30} and {c.adopted_from for c in taken.changes} == {"cluster slurm1x"}


def test_what_needs_a_blocked_resource_waits_for_it():
    state = desired()
    theirs = dataclasses.replace(state.tables[0], owner=None)  # slurmctld_raw_CL
    plan = plan_changes(state, ObservedState((theirs,)), POLICY)
    (skip,) = plan.skipped
    assert skip.name == "slurmctld_raw_CL" and skip.withheld == 2  # its DCR and the scheduler's association
    assert not any("slurmctld" in c.resource.name for c in plan.changes if c.kind != "table")  # its parsed table needs nothing
    assert "(2 changes of ours wait for it)" in plan.render()
    # our DCR in the way of nothing: a DCR that isn't ours holds back only its own associations
    rule = dataclasses.replace(state.rules[1], tags={})  # slurmd_raw_dcr
    plan = plan_changes(state, ObservedState(rules=(rule,)), POLICY)
    (skip,) = plan.skipped
    assert skip.name == "slurmd_raw_dcr" and skip.withheld == 4
    assert not any(c.kind == "association" and "slurmd_raw_dcr" in c.resource.rule_id for c in plan.changes)


def test_plan_json_matches_its_shipped_schema():
    import jsonschema

    from controller.plan_output import schema

    state = desired()
    plans = [
        plan_changes(state, ObservedState(), POLICY),
        plan_changes(state, converged(state), POLICY),
        plan_changes(state, unowned(state), POLICY),
        plan_changes(state, unowned(state), dataclasses.replace(POLICY, adopt=frozenset({None}))),
        plan_changes(desired(Cluster((SCHEDULER,))), converged(state), PlanPolicy("slurm1", Policy.SYNC, True)),
    ]
    validator = jsonschema.Draft202012Validator(schema())
    validator.check_schema(schema())
    for plan in plans:
        validator.validate(plan.to_dict())
    broken = plans[0].to_dict()
    broken["summary"]["create"] = "48"
    assert not validator.is_valid(broken)


def test_a_table_fed_by_a_dcr_of_ours_stays_ours_without_its_mark():
    """Azure may drop the description that holds a table's mark: the DCR writing into it is a second signal."""
    state = desired()
    unmarked = tuple(dataclasses.replace(t, owner=None) for t in state.tables)
    plan = plan_changes(state, ObservedState(unmarked, state.rules, state.associations), POLICY)
    assert plan.converged, plan.render()  # not blocked, and no update that Azure might never take
    # and sync may delete it when it is no longer wanted
    fewer = dataclasses.replace(state, tables=state.tables[1:])
    deletes = plan_changes(fewer, ObservedState(unmarked, state.rules, state.associations), PlanPolicy("slurm1", Policy.SYNC, True))
    assert [(c.action, c.resource.name) for c in deletes.changes] == [("delete", "slurmctld_raw_CL")]
    # a DCR of another cluster is no signal for us
    theirs = tuple(dataclasses.replace(r, tags={**r.tags, "slurm-log-controller-cluster": "other"}) for r in state.rules)
    assert len(plan_changes(state, ObservedState(unmarked, theirs, ()), POLICY).skipped) == 30


def test_a_dcr_in_another_region_than_its_workspace_is_not_sent():
    state = desired()
    moved = tuple(dataclasses.replace(r, location="westus") if r.name == "slurmd_raw_dcr" else r for r in state.rules)
    plan = plan_changes(state, ObservedState(state.tables, moved, state.associations), POLICY)
    assert plan.empty and not plan.converged
    (skip,) = plan.skipped
    assert skip.name == "slurmd_raw_dcr" and "is in westus but its workspace in eastus" in skip.reason and "delete it" in skip.reason
