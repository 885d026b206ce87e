"""One reconcile pass, in the order it reads: desired -> observed -> plan -> apply -> report."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from .apply import ApplyResult, apply_plan
from .azure.clients import AzureClients
from .azure.workspace import Workspace
from .cluster import Inventory, require_machines
from .components import DEFAULT_NODEARRAY_ROLES, Component, Role
from .desired import DesiredState, Target, desired_state, rules_of_layout
from .errors import UserError
from .observe import Adapters, observe, observe_workspace
from .doctor.machines import ScaleSetReads, machine_facts, scale_sets_with_logs
from .doctor.preflight import MachineFacts
from .plan import ObservedState, Plan, PlanPolicy, plan_changes
from .remediation import RemediationPolicy, plan_remediation
from .resources import Cluster
from .settings import Settings

# CLUSTER_NAME is not among them: without it, the ClusterName tag of VM_ID/VMSS_ID names the cluster.
REQUIRED = ("subscription_id", "resource_group", "workspace_name")


def target_for(settings: Settings, location: str, cluster_name: str | None) -> Target:
    return Target(
        subscription_id=settings.subscription_id,
        resource_group=settings.resource_group,
        workspace_id=settings.workspace_id,
        location=location,
        cluster_name=cluster_name,
        table_plan=settings.table_plan,
        retention_days=settings.table_retention_days,
        total_retention_days=settings.table_total_retention_days,
        parsed_table_plan=settings.parsed_table_plan,
        parsed_retention_days=settings.parsed_table_retention_days,
        parsed_total_retention_days=settings.parsed_table_total_retention_days,
    )


def policy_for(settings: Settings, cluster_name: str) -> PlanPolicy:
    return PlanPolicy(cluster_name, settings.policy, settings.allow_table_delete, settings.adopt_owners)


def remediation_policy_for(settings: Settings, cluster_name: str) -> RemediationPolicy:
    return RemediationPolicy(cluster_name, settings.install_agent, settings.upgrade_instances, settings.adopt_owners)


@dataclass(frozen=True)
class Pass:
    cluster: Cluster
    desired: DesiredState
    observed: ObservedState
    plan: Plan
    result: ApplyResult | None = None
    inventory: Inventory = Inventory()  # the VMs and scale sets the cluster was found among
    # The doctor's facts about the machines as planned (None: they couldn't be read).
    machines: tuple[MachineFacts, ...] | None = None


class Reconciler:
    def __init__(
        self,
        settings: Settings,
        components: tuple[Component, ...],
        clients: AzureClients,
        nodearray_roles: dict[str, Role] = DEFAULT_NODEARRAY_ROLES,
        keep_machine_reads: float = 0.0,
    ):
        """keep_machine_reads: seconds the daemon may judge unchanged scale sets' agents by an earlier
        pass's read (doctor.machines.ScaleSetReads)."""
        settings.require(*REQUIRED)
        settings.require_cluster_identity()
        self.settings = settings
        self.components = components
        self.nodearray_roles = nodearray_roles
        self.clients = clients
        self.adapters = Adapters.connect(clients, settings)
        self.workspace: Workspace | None = None
        # Kept between passes only when nothing acts on them: remediation must see each pass's machines.
        remediating = settings.install_agent or settings.upgrade_instances
        self.scale_set_reads = ScaleSetReads(self.adapters.compute, 0.0 if remediating else keep_machine_reads)

    def plan(self) -> Pass:
        # The workspace's region doesn't change: read it once, keep passes to list calls.
        if self.workspace is None:
            self.workspace = observe_workspace(self.clients, self.settings)
        # Which cluster we are is known once its machines are read: the DCR ids are known before.
        target = target_for(self.settings, self.workspace.location, None)
        layout = self.settings.dcr_layout
        rule_ids = {rule.id for rule, _, _ in rules_of_layout(self.components, target, layout)}
        cluster, observed, inventory = observe(self.adapters, self.settings, rule_ids, self.nodearray_roles, self.scale_set_reads)
        needs_scheduler = any(Role.SCHEDULER in c.roles for c in self.components)
        require_machines(cluster, needs_scheduler, self.settings.scheduler_node_name, self.settings.discovery_resource_groups)
        target = replace(target, cluster_name=cluster.name)
        desired = desired_state(self.components, target, cluster, layout)
        plan = plan_changes(desired, observed, policy_for(self.settings, cluster.name))
        return self._with_remediation(Pass(cluster, desired, observed, plan, inventory=inventory))

    def _with_remediation(self, planned: Pass) -> Pass:
        """The pass, its plan plus what remediation would do to the machines, from the doctor's list calls."""
        plan = planned.plan
        try:
            facts = machine_facts(self.adapters.compute, planned, self.settings.apply_concurrency, self.scale_set_reads)
        except UserError as exc:  # a missing Reader on the extensions, say: the DCRs' work goes on
            return replace(planned, plan=replace(plan, notes=plan.notes + (f"remediation not planned: {exc}",)))
        fix = plan_remediation(facts, planned.inventory, scale_sets_with_logs(planned),
                               remediation_policy_for(self.settings, planned.cluster.name))
        plan = replace(plan, changes=plan.changes + fix.changes, notes=plan.notes + fix.notes)
        return replace(planned, plan=plan, machines=tuple(facts))

    def run_once(self, stop: threading.Event | None = None, on_result=None) -> Pass:
        planned = self.plan()
        result = apply_plan(planned.plan, self.adapters, self.settings.apply_concurrency, stop, on_result)
        return replace(planned, result=result)
