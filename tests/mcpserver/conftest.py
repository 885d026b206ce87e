"""A simulated workspace holding real Slurm 22.05 logs and a job's 4,002 output lines
(tests/mcpserver/workspace_fill.py's ``real_logs``), put there as the agent does."""

import pytest

from tests.mcpserver.session import server
from tests.mcpserver.workspace_fill import feed, real_logs


@pytest.fixture
def filled(sim, azure):
    feed(sim, real_logs(sim))
    return sim


@pytest.fixture
def mcp(filled):
    return server()
