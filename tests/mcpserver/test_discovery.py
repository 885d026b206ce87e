"""Workspace functions, as Resource Manager lists them (a savedSearches list body, Azure's
schema: properties.functionAlias / functionParameters), and the note when they can't be listed."""

from azure.mgmt.loganalytics.models import SavedSearchesListResult

from controller.mcp.discovery import functions_of
from tests.mcpserver.session import call

LISTED = {"value": [
    {"id": "/subscriptions/0/.../savedSearches/slurm-job", "name": "slurm-job", "properties": {
        "category": "slurm", "displayName": "A job's whole story", "query": "union *_CL | where JobId == jobId",
        "functionAlias": "SlurmJob", "functionParameters": "jobId:long", "version": 2}},
    {"id": "/subscriptions/0/.../savedSearches/plain", "name": "plain", "properties": {
        "category": "saved", "displayName": "A plain saved search", "query": "Heartbeat | take 1", "version": 2}},
]}


def test_functions_are_the_saved_searches_with_an_alias():
    found = functions_of(SavedSearchesListResult(LISTED).value)
    assert [(f.name, f.parameters, f.description) for f in found] == [("SlurmJob", "jobId:long", "A job's whole story")]


def test_functions_that_cant_be_listed_are_said_so(mcp, sim):
    sim.inject("SavedSearches_ListByWorkspace", 404, times=-1)  # the simulator lists them: make it fail
    answer = call(mcp, "list_tables", {"max_bytes": 65536})
    assert answer["functions"] == [] and answer["functions_note"].startswith("functions could not be listed: 404")
