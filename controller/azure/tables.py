"""Log Analytics tables of one workspace."""

from __future__ import annotations

from azure.mgmt.loganalytics import LogAnalyticsManagementClient

from ..resources import Table, resource_group_of
from .errors import reading
from .pages import list_items

API_VERSION = "2025-07-01"  # the installed azure-mgmt-loganalytics's


class TableAdapter:
    def __init__(self, client: LogAnalyticsManagementClient, workspace_id: str):
        self.client = client
        self.workspace_id = workspace_id
        self.resource_group = resource_group_of(workspace_id)
        self.workspace = workspace_id.rsplit("/", 1)[-1]

    def list(self) -> list[Table]:
        with reading(f"tables of workspace {self.workspace}"):
            found = list_items(self.client, f"{self.workspace_id}/tables", API_VERSION)
            return [Table.from_arm(self.workspace_id, t) for t in found]

    def put(self, table: Table) -> None:
        """Long-running in Azure: returns once the table is provisioned, so a DCR can point at it."""
        self.client.tables.begin_create_or_update(
            self.resource_group, self.workspace, table.name, table.body()
        ).result()

    def delete(self, table: Table) -> None:
        self.client.tables.begin_delete(self.resource_group, self.workspace, table.name).result()
