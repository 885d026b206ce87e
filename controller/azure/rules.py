"""Data Collection Rules of one resource group."""

from __future__ import annotations

from azure.mgmt.monitor import MonitorManagementClient
from azure.mgmt.monitor.models import DataCollectionRuleResource

from ..resources import DataCollectionRule
from .errors import reading
from .pages import group_path, list_items

API_VERSION = "2023-03-11"  # the installed azure-mgmt-monitor's for DCRs


class RuleAdapter:
    def __init__(self, client: MonitorManagementClient, resource_group: str):
        self.client = client
        self.resource_group = resource_group

    def list(self) -> list[DataCollectionRule]:
        with reading(f"data collection rules of resource group {self.resource_group}"):
            path = f"{group_path(self.client, self.resource_group)}/providers/Microsoft.Insights/dataCollectionRules"
            return [DataCollectionRule.from_arm(r) for r in list_items(self.client, path, API_VERSION)]

    def put(self, rule: DataCollectionRule) -> None:
        body = DataCollectionRuleResource.deserialize(rule.body())
        self.client.data_collection_rules.create(self.resource_group, rule.name, body)

    def delete(self, rule: DataCollectionRule) -> None:
        self.client.data_collection_rules.delete(self.resource_group, rule.name)
