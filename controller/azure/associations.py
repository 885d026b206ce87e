"""DCR associations, listed per rule: one call per DCR, however many machines it covers."""

from __future__ import annotations

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.monitor import MonitorManagementClient
from azure.mgmt.monitor.models import DataCollectionRuleAssociationProxyOnlyResource

from ..resources import Association
from .errors import reading
from .pages import list_items

API_VERSION = "2023-03-11"  # the installed azure-mgmt-monitor's for associations


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
            try:
                return [
                    Association.from_arm_id(a["id"], props.get("dataCollectionRuleId") or "", props.get("description") or "")
                    for a in list_items(self.client, f"{rule_id}/associations", API_VERSION)
                    for props in (a.get("properties") or {},)
                ]
            except ResourceNotFoundError:
                return []

    def put(self, association: Association) -> None:
        body = DataCollectionRuleAssociationProxyOnlyResource.deserialize(association.body())
        self.client.data_collection_rule_associations.create(_uri(association), association.name, body)

    def delete(self, association: Association) -> None:
        self.client.data_collection_rule_associations.delete(_uri(association), association.name)
