"""DCR associations, listed per rule: one call per DCR, however many machines it covers."""

from __future__ import annotations

from azure.mgmt.monitor import MonitorManagementClient
from azure.mgmt.monitor.models import DataCollectionRuleAssociationProxyOnlyResource

from ..resources import Association, DataCollectionRule, resource_group_of
from .errors import arm_json, reading


def _uri(association: Association) -> str:
    # The SDK's URL template already starts with "/": "//subscriptions/..." would miss the route.
    return association.target_id.lstrip("/")


class AssociationAdapter:
    def __init__(self, client: MonitorManagementClient):
        self.client = client

    def list_by_rule(self, rule: DataCollectionRule) -> list[Association]:
        with reading(f"associations of data collection rule {rule.name}"):
            found = self.client.data_collection_rule_associations.list_by_rule(
                resource_group_of(rule.id), rule.name
            )
            return [Association.from_arm(arm_json(a)) for a in found]

    def put(self, association: Association) -> None:
        body = DataCollectionRuleAssociationProxyOnlyResource.deserialize(association.body())
        self.client.data_collection_rule_associations.create(_uri(association), association.name, body)

    def delete(self, association: Association) -> None:
        self.client.data_collection_rule_associations.delete(_uri(association), association.name)
