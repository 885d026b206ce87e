"""The MCP server: an agent's questions about jobs, nodes and collection, answered from the
workspace (the Logs client), doctor's verdicts and the plan. Read-only; every answer bounded."""
