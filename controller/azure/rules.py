"""Data Collection Rules of one resource group."""

from __future__ import annotations

from azure.mgmt.monitor import MonitorManagementClient
from azure.mgmt.monitor.models import DataCollectionRuleResource

from ..resources import DataCollectionRule
from .errors import arm_json, reading


class RuleAdapter:
    def __init__(self, client: MonitorManagementClient, resource_group: str):
        self.client = client
        self.resource_group = resource_group

    def list(self) -> list[DataCollectionRule]:
        with reading(f"data collection rules of resource group {self.resource_group}"):
            found = self.client.data_collection_rules.list_by_resource_group(self.resource_group)
            return [DataCollectionRule.from_arm(arm_json(r)) for r in found]

    def put(self, rule: DataCollectionRule) -> None:
        body = DataCollectionRuleResource.deserialize(rule.body())
        self.client.data_collection_rules.create(self.resource_group, rule.name, body)

    def delete(self, rule: DataCollectionRule) -> None:
        self.client.data_collection_rules.delete(self.resource_group, rule.name)
