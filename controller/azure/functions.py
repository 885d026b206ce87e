"""Workspace functions: the saved searches of one workspace (`saved_searches`)."""

from __future__ import annotations

from azure.mgmt.loganalytics import LogAnalyticsManagementClient

from ..resources import SavedSearch, resource_group_of
from .errors import reading
from .pages import list_items
from .tables import API_VERSION  # the same client's


class FunctionAdapter:
    def __init__(self, client: LogAnalyticsManagementClient, workspace_id: str):
        self.client = client
        self.workspace_id = workspace_id
        self.resource_group = resource_group_of(workspace_id)
        self.workspace = workspace_id.rsplit("/", 1)[-1]

    def list(self) -> list[SavedSearch]:
        """One call: the list has no next page (SavedSearchesListResult has no nextLink)."""
        with reading(f"saved searches of workspace {self.workspace}"):
            found = list_items(self.client, f"{self.workspace_id}/savedSearches", API_VERSION)
            return [SavedSearch.from_arm(self.workspace_id, s) for s in found]

    def put(self, function: SavedSearch) -> None:
        """A create sends no etag; an update the one read, so Azure refuses (409) if the function
        changed since: the next pass reads it again."""
        self.client.saved_searches.create_or_update(
            self.resource_group, self.workspace, function.name, function.body()
        )

    def delete(self, function: SavedSearch) -> None:
        self.client.saved_searches.delete(self.resource_group, self.workspace, function.name)
