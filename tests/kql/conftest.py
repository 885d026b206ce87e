"""The in-memory Log Analytics workspace and the cookbook's queries, shared by the KQL tests."""

import pytest

from tests.kql.workspace import build, doc_queries


@pytest.fixture(scope="module")
def ws():
    return build()


@pytest.fixture(scope="module")
def ws_per_user(ws):
    """The same workspace with the archive in the seed's per-user layout."""
    return build("per-user", now=ws.now)


@pytest.fixture(scope="module")
def doc():
    return doc_queries()
