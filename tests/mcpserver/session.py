"""In-memory MCP client sessions (the SDK's ``Client``) against the server the CLI would run."""

from __future__ import annotations

from typing import Any

import anyio
from mcp import Client

from controller.mcp.run import server_for
from controller.settings import load_settings


def server():
    """The server as ``mcp --transport stdio`` builds it, from the environment the ``azure``
    fixture sets (its Logs queries go to the simulator's workspace)."""
    return server_for(load_settings(), None, auth=False)


def call(mcp_server, tool: str, arguments: dict[str, Any] | None = None):
    """One tool call in a fresh session: the structured result (or the error's text)."""

    async def session():
        async with Client(mcp_server) as client:
            return await client.call_tool(tool, arguments or {})

    result = anyio.run(session)
    return result.content[0].text if result.is_error else result.structured_content


def calls(mcp_server, *requests: tuple[str, dict[str, Any]]):
    """Several tool calls in one session."""

    async def session():
        async with Client(mcp_server) as client:
            return [await client.call_tool(tool, arguments) for tool, arguments in requests]

    return [r.content[0].text if r.is_error else r.structured_content for r in anyio.run(session)]
