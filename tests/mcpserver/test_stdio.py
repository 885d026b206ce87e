"""`slurm-log-controller mcp` as a desktop client runs it: a child process on stdio."""

import os
import sys

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tests.mcpserver.workspace_fill import LARGE_JOB


def test_a_client_starts_the_server_and_asks_it(filled, azure, tmp_path):
    command = StdioServerParameters(command=sys.executable, args=["-m", "controller.cli", "mcp"],
                                    env=dict(os.environ), cwd=str(tmp_path))

    async def session():
        async with Client(command) as client:
            tools = [t.name for t in (await client.list_tools()).tools]
            story = await client.call_tool("job_story", {"job_id": LARGE_JOB, "days": 31})
            return tools, story

    tools, story = anyio.run(session)
    assert tools == ["job_story", "failed_jobs", "node_health", "collection_status", "list_tables", "run_kql"]
    assert story.structured_content["found"] and story.structured_content["stdout_tail"][-1] == "LAST-LINE"
