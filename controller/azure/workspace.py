"""Log Analytics workspace: the destination must exist before anything else is planned."""

from __future__ import annotations

from dataclasses import dataclass

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.loganalytics import LogAnalyticsManagementClient

from ..errors import UserError
from .errors import reading


@dataclass(frozen=True)
class Workspace:
    id: str
    location: str
    customer_id: str = ""  # the "Workspace ID" the Logs query API takes (properties.customerId)


def get_workspace(client: LogAnalyticsManagementClient, resource_group: str, name: str) -> Workspace:
    with reading(f"workspace {name}"):
        try:
            found = client.workspaces.get(resource_group, name)
        except ResourceNotFoundError:
            raise UserError(
                f"workspace {name} not found in resource group {resource_group}: create it, or fix "
                "WORKSPACE_NAME / WORKSPACE_RESOURCE_GROUP"
            ) from None
    return Workspace(id=found.id, location=found.location, customer_id=found.customer_id or "")
