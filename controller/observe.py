"""Observed state: what exists in Azure now, read with list calls through the adapters."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .azure.associations import AssociationAdapter
from .azure.clients import AzureClients
from .azure.compute import ComputeAdapter
from .azure.rules import RuleAdapter
from .azure.tables import TableAdapter
from .azure.workspace import Workspace, get_workspace
from .cluster import find_cluster
from .plan import ObservedState
from .resources import Cluster, key
from .settings import Settings


@dataclass
class Adapters:
    tables: TableAdapter
    rules: RuleAdapter
    associations: AssociationAdapter
    compute: ComputeAdapter

    @classmethod
    def connect(cls, clients: AzureClients, settings: Settings) -> Adapters:
        return cls(
            tables=TableAdapter(clients.log_analytics, settings.workspace_id),
            rules=RuleAdapter(clients.monitor, settings.resource_group),
            associations=AssociationAdapter(clients.monitor),
            compute=ComputeAdapter(clients.compute),
        )


def observe_workspace(clients: AzureClients, settings: Settings) -> Workspace:
    return get_workspace(clients.log_analytics, settings.workspace_rg, settings.workspace_name)


def observe_cluster(adapters: Adapters, settings: Settings) -> Cluster:
    inventory = adapters.compute.inventory(settings.discovery_resource_groups)
    return find_cluster(
        inventory, settings.cluster_name, settings.scheduler_node_name, settings.vm_id, settings.compute_vmss_ids
    )


def observe_resources(adapters: Adapters, rule_names: set[str], cluster_name: str, concurrency: int) -> ObservedState:
    """Tables of the workspace, DCRs of the resource group, and the associations of the DCRs that
    we want or own (one list per DCR: the cost does not grow with the number of nodes)."""
    tables = adapters.tables.list()
    rules = adapters.rules.list()
    wanted = {n.lower() for n in rule_names}
    relevant = [r for r in rules if r.name.lower() in wanted or r.owner == cluster_name]
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        per_rule = list(pool.map(adapters.associations.list_by_rule, relevant))
    associations = {key(a.id): a for found in per_rule for a in found}
    return ObservedState(tuple(tables), tuple(rules), tuple(associations.values()))
