"""DCR associations, listed per rule: one call per DCR, however many machines it covers."""

from __future__ import annotations

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.monitor import MonitorManagementClient
from azure.mgmt.monitor.models import DataCollectionRuleAssociationProxyOnlyResource

from ..resources import Association, resource_group_of
from .errors import reading


def _uri(association: Association) -> str:
    # The SDK's URL template already starts with "/": "//subscriptions/..." would miss the route.
    return association.target_id.lstrip("/")


class AssociationAdapter:
    def __init__(self, client: MonitorManagementClient):
        self.client = client

    def list_by_rule(self, rule_id: str) -> list[Association]:
        """A DCR that doesn't exist (yet) has no associations."""
        name = rule_id.rsplit("/", 1)[-1]
        with reading(f"associations of data collection rule {name}"):
            found = self.client.data_collection_rule_associations.list_by_rule(resource_group_of(rule_id), name)
            try:
                return [Association.from_arm_id(a.id, a.data_collection_rule_id or "", a.description or "") for a in found]
            except ResourceNotFoundError:
                return []

    def put(self, association: Association) -> None:
        body = DataCollectionRuleAssociationProxyOnlyResource.deserialize(association.body())
        self.client.data_collection_rule_associations.create(_uri(association), association.name, body)

    def delete(self, association: Association) -> None:
        self.client.data_collection_rule_associations.delete(_uri(association), association.name)
