"""A naive reconciler, for comparison only: one GET per desired resource (what a controller that
checks each table, DCR and association individually would cost). It reads; it changes nothing.

    python -m benchmarks.naive      (same settings as the controller)
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

from azure.core.exceptions import ResourceNotFoundError

from controller.azure.clients import AzureClients, default_credential
from controller.components import load_components
from controller.desired import desired_state
from controller.cluster import find_cluster
from controller.observe import Adapters, observe_workspace
from controller.reconcile import target_for
from controller.resources import resource_group_of
from controller.settings import load_settings


def main() -> int:
    settings = load_settings()
    clients = AzureClients(settings, default_credential(settings))
    workspace = observe_workspace(clients, settings)
    inventory = Adapters.connect(clients, settings).compute.inventory(settings.discovery_resource_groups)
    cluster = find_cluster(inventory, settings.cluster_name, settings.scheduler_node_name, settings.vm_id)
    desired = desired_state(load_components(), target_for(settings, workspace.location, cluster.name), cluster)
    rg, ws = resource_group_of(settings.workspace_id), settings.workspace_name

    def get(call):
        try:
            call()
            return 0
        except ResourceNotFoundError:
            return 1

    calls = [lambda t=t: clients.log_analytics.tables.get(rg, ws, t.name) for t in desired.tables]
    calls += [lambda r=r: clients.monitor.data_collection_rules.get(settings.resource_group, r.name) for r in desired.rules]
    calls += [
        lambda a=a: clients.monitor.data_collection_rule_associations.get(a.target_id.lstrip("/"), a.name)
        for a in desired.associations
    ]
    with ThreadPoolExecutor(settings.apply_concurrency) as pool:
        missing = sum(pool.map(get, calls))
    print(f"naive: {len(calls)} GETs, {missing} missing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
