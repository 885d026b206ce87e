"""Observed state: what exists in Azure now, read with list calls through the adapters."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .azure.agents import AgentAdapter, UpgradeAdapter
from .azure.associations import AssociationAdapter
from .azure.clients import AzureClients
from .azure.compute import ComputeAdapter
from .azure.functions import FunctionAdapter
from .azure.rules import RuleAdapter
from .azure.tables import TableAdapter
from .azure.workspace import Workspace, get_workspace
from .cluster import Inventory, find_cluster, known_cluster_name, nodearray_scale_sets
from .doctor.machines import ScaleSetReads
from .plan import ObservedState
from .resources import Cluster, key
from .settings import Settings


@dataclass
class Adapters:
    tables: TableAdapter
    rules: RuleAdapter
    associations: AssociationAdapter
    compute: ComputeAdapter
    functions: FunctionAdapter
    agents: AgentAdapter
    upgrades: UpgradeAdapter

    @classmethod
    def connect(cls, clients: AzureClients, settings: Settings) -> Adapters:
        return cls(
            tables=TableAdapter(clients.log_analytics, settings.workspace_id),
            rules=RuleAdapter(clients.monitor, settings.resource_group),
            associations=AssociationAdapter(clients.monitor),
            compute=ComputeAdapter(clients.compute),
            functions=FunctionAdapter(clients.log_analytics, settings.workspace_id),
            agents=AgentAdapter(clients.compute),
            upgrades=UpgradeAdapter(clients.compute),
        )


def observe_workspace(clients: AzureClients, settings: Settings) -> Workspace:
    return get_workspace(clients.log_analytics, settings.workspace_rg, settings.workspace_name)


def observe(
    adapters: Adapters, settings: Settings, rule_ids: set[str], nodearray_roles: dict[str, str],
    scale_set_reads: ScaleSetReads,
) -> tuple[Cluster, ObservedState, Inventory]:
    """The cluster's machines (and the inventory they were found in), the workspace's tables and
    functions, the resource group's DCRs and the associations of the DCRs we want or own: every
    list at once, since none needs another's answer (the DCRs we want are named by the config). One
    list per DCR covers all its machines, so the cost does not grow with the number of nodes, but for
    pages. The preflight's reads of the nodearray scale sets begin here too (`scale_set_reads`)."""
    wanted = {key(i) for i in rule_ids}
    groups = settings.discovery_resource_groups
    with ThreadPoolExecutor(max_workers=settings.apply_concurrency) as pool:
        scale_sets = pool.submit(adapters.compute.scale_sets, groups)
        vms = pool.submit(adapters.compute.machines, groups)
        tables = pool.submit(adapters.tables.list)
        rules = pool.submit(adapters.rules.list)
        functions = pool.submit(adapters.functions.list)
        per_rule = [pool.submit(adapters.associations.list_by_rule, i) for i in sorted(rule_ids)]
        # The preflight's one list per nodearray scale set needs only the scale set: it runs beside
        # the VM list (each is 20 pages at 2,000 Flexible nodes), not after it.
        # Without the cluster's name yet (VM_ID alone), none begins: the preflight reads them after.
        name = known_cluster_name(scale_sets.result(), settings.cluster_name, settings.compute_vmss_ids)
        scale_set_reads.begin(pool, nodearray_scale_sets(scale_sets.result(), name, settings.compute_vmss_ids) if name else ())
        # Which cluster we are (CLUSTER_NAME, or the tag of the VM_ID/VMSS_ID machines) decides
        # which DCRs are ours.
        machines = Inventory(tuple(vms.result()), tuple(scale_sets.result()))
        cluster = find_cluster(
            machines, settings.cluster_name, settings.scheduler_node_name, settings.vm_id,
            settings.compute_vmss_ids, nodearray_roles,
        )
        # DCRs of ours that the config no longer names: their associations too, for `sync`.
        per_rule += [
            pool.submit(adapters.associations.list_by_rule, r.id)
            for r in rules.result()
            if key(r.id) not in wanted and r.owner == cluster.name
        ]
        associations = {key(a.id): a for found in per_rule for a in found.result()}
        observed = ObservedState(
            tuple(tables.result()), tuple(rules.result()), tuple(associations.values()), tuple(functions.result())
        )
    return cluster, observed, machines
