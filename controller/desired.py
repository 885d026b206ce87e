"""Desired state: components x roles x the cluster's machines -> tables, DCRs, associations (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .components import Component, Role
from .functions import desired_functions
from .resources import (
    ASSOCIATION_PREFIX,
    Association,
    Cluster,
    DataCollectionRule,
    LogFileSource,
    SavedSearch,
    Table,
    ownership_tags,
)
from .settings import Layout

# Per DCR (Azure Monitor service limits, data collection rules): each component is one source, one
# declared stream and two data flows (raw and parsed), so a DCR holds at most 5 components.
MAX_DATA_SOURCES = MAX_DATA_FLOWS = MAX_STREAMS = 10


@dataclass(frozen=True)
class Target:
    """Where the controller writes: subscription, DCR resource group, workspace and its region."""

    subscription_id: str
    resource_group: str
    workspace_id: str
    location: str
    cluster_name: str | None  # None only for `render` without CLUSTER_NAME: nothing is marked as ours
    table_plan: str = "Analytics"  # of the raw tables `<pattern>_raw_CL`
    retention_days: int | None = 30
    total_retention_days: int | None = None
    parsed_table_plan: str = "Analytics"  # of the parsed tables `<pattern>_CL`
    parsed_retention_days: int | None = 30
    parsed_total_retention_days: int | None = None

    @property
    def resource_group_id(self) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"


@dataclass(frozen=True)
class DesiredState:
    tables: tuple[Table, ...]
    rules: tuple[DataCollectionRule, ...]
    associations: tuple[Association, ...]
    notes: tuple[str, ...] = ()  # what looks misconfigured, for the plan to show
    placements: dict[str, tuple[str, bool]] = field(default_factory=dict)  # see Cluster.placements
    functions: tuple[SavedSearch, ...] = ()  # the workspace functions (controller/functions.py)


def table_for(component: Component, target: Target) -> Table:
    return Table(
        workspace_id=target.workspace_id,
        name=component.table,
        description=component.description,
        plan=target.table_plan,
        retention_days=target.retention_days,
        total_retention_days=target.total_retention_days,
        owner=target.cluster_name,
    )


def parsed_table_for(component: Component, target: Target) -> Table:
    return Table(
        workspace_id=target.workspace_id,
        name=component.parsed_table,
        description=f"{component.description} (parsed: {component.log_format.value} format)",
        plan=target.parsed_table_plan,
        retention_days=target.parsed_retention_days,
        total_retention_days=target.parsed_total_retention_days,
        columns=component.log_format.columns,
        owner=target.cluster_name,
    )


def source_for(component: Component, alone: bool = True) -> LogFileSource:
    """Named as the reference document names a DCR's lone source; among others, by its pattern."""
    return LogFileSource(
        name=component.rule.replace("_", "-") if alone else component.pattern,
        file_patterns=component.files,
        input_stream=component.input_stream,
        output_stream=component.output_stream,
        parsed_stream=component.parsed_stream,
        parsed_transform_kql=component.transform_kql,
        record_start_format=component.log_format.record_start,
    )


def rule_for(component: Component, target: Target) -> DataCollectionRule:
    return _rule(component.rule, component.description, (component,), target)


def _rule(name: str, description: str, components: tuple[Component, ...], target: Target) -> DataCollectionRule:
    return DataCollectionRule(
        resource_group_id=target.resource_group_id,
        name=name,
        location=target.location,
        description=description,
        workspace_id=target.workspace_id,
        sources=tuple(source_for(c, alone=len(components) == 1) for c in components),
        tags=ownership_tags(target.cluster_name),
    )


def role_rule_name(role: Role, index: int) -> str:
    """`slurm_<role>_dcr`, then `slurm_<role>_2_dcr`, ... when Azure's per-DCR limits split a role."""
    return f"slurm_{role.value}_dcr" if index == 0 else f"slurm_{role.value}_{index + 1}_dcr"


def role_batches(components: tuple[Component, ...]) -> list[tuple[Component, ...]]:
    """A role's components in as few DCRs as Azure's per-DCR limits allow, filled in the order of
    components.yaml: a component added at the end joins the last DCR and renames none."""
    batches: list[list[Component]] = []
    for component in components:
        if not batches or not _fits(batches[-1] + [component]):
            batches.append([])
        batches[-1].append(component)
    return [tuple(b) for b in batches]


def _fits(components: list[Component]) -> bool:
    sources = [source_for(c) for c in components]
    return (
        len(sources) <= MAX_DATA_SOURCES
        and sum(len(s.flows) for s in sources) <= MAX_DATA_FLOWS
        and len({s.input_stream for s in sources}) <= MAX_STREAMS
    )


def association_name(rule: DataCollectionRule) -> str:
    return f"{ASSOCIATION_PREFIX}{rule.name}"


def machines_for(role: Role, cluster: Cluster) -> list[str]:
    return list(cluster.targets_of(role.value))


def rules_of_layout(components: tuple[Component, ...], target: Target, layout: Layout):
    """Each DCR, the roles whose machines it goes to, and what it collects (in words)."""
    if layout is Layout.PER_COMPONENT:
        return [(rule_for(c, target), [r for r in Role if r in c.roles], c.pattern) for c in components]
    rules = []
    for role, name, batch in _role_rules(components):
        description = f"{role.value} logs of cluster {target.cluster_name}: {', '.join(c.pattern for c in batch)}"
        rules.append((_rule(name, description, batch, target), [role], role.value))
    return rules


def _role_rules(components: tuple[Component, ...]):
    """The per-role layout: (role, DCR name, its components), for each DCR."""
    for role in Role:
        for index, batch in enumerate(role_batches(tuple(c for c in components if role in c.roles))):
            yield role, role_rule_name(role, index), batch


def rules_of_component(components: tuple[Component, ...], layout: Layout) -> dict[str, tuple[str, ...]]:
    """Each component's pattern -> the names of the DCRs that collect it under `layout` (under
    per-role, one per role of the component)."""
    if layout is Layout.PER_COMPONENT:
        return {c.pattern: (c.rule,) for c in components}
    names: dict[str, tuple[str, ...]] = {c.pattern: () for c in components}
    for _, name, batch in _role_rules(components):
        for c in batch:
            names[c.pattern] += (name,)
    return names


def who_watches(rule_names: tuple[str, ...]) -> str:
    """"a_dcr watches" or "a_dcr and b_dcr watch", for a line about a component's files."""
    return f"{' and '.join(rule_names)} {'watch' if len(rule_names) > 1 else 'watches'}"


def desired_state(
    components: tuple[Component, ...], target: Target, cluster: Cluster, layout: Layout = Layout.PER_COMPONENT
) -> DesiredState:
    tables, rules, associations = [], [], []
    for component in components:
        tables += [table_for(component, target), parsed_table_for(component, target)]
    for rule, roles, what in rules_of_layout(components, target, layout):
        rules.append(rule)
        description = f"{what} logs of cluster {target.cluster_name}"
        # A component with both roles goes to both; a machine listed twice gets one association.
        machines = dict.fromkeys(m for role in roles for m in machines_for(role, cluster))
        associations.extend(Association(m, rule.id, association_name(rule), description) for m in machines)
    return DesiredState(
        tuple(tables), tuple(rules), tuple(associations), _notes(components, target, cluster, layout), cluster.placements(),
        desired_functions(components, target.workspace_id, target.cluster_name),
    )


def _notes(components: tuple[Component, ...], target: Target, cluster: Cluster, layout: Layout) -> tuple[str, ...]:
    """No node scale set at all may be a cluster whose nodes were never started, or a setting to
    fix: worth a word, not an error (a missing scheduler or cluster is one: `cluster.require_machines`)."""
    notes = []
    if any(Role.NODES in c.roles for c in components) and not any(s.role == Role.NODES for s in cluster.scale_sets):
        notes.append(
            f"no node scale set found (tagged ClusterName={target.cluster_name} and CycleCloudNodeArray): "
            "node DCRs go nowhere until CycleCloud starts nodes; if it has, set VMSS_ID or CLUSTER_RESOURCE_GROUPS"
        )
    rules = rules_of_component(components, layout)
    notes.extend(
        f"{who_watches(rules[c.pattern])} {pattern}, a wildcard in a directory: the Azure Monitor Agent wildcards file names "
        "only, so it may collect nothing; name the folder, and wildcard the file name"
        for c in components
        for pattern in c.directory_wildcards()
    )
    return tuple(notes)
