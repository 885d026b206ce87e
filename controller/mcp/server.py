"""The MCP server: tools around the questions, a runbook prompt, table schemas as resources.

Every tool reads only: Logs queries through :class:`Workspace`, and Resource Manager reads for
the plan and the machines (the ``collection_status`` tool, when a :class:`Reconciler` is given).
A failure the caller can act on (a refused query, a workspace that can't be asked) is a tool
error with one line saying why and what to do, never a traceback."""

from __future__ import annotations

import datetime as _dt
import functools
from typing import Annotated, Callable

from azure.core.exceptions import AzureError
from mcp.server import MCPServer
from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from pydantic import Field, ValidationError

from .. import __version__
from ..azure.errors import describe
from ..errors import UserError
from ..reconcile import Reconciler
from .answers import DEFAULT_MAX_BYTES, Catalogue, CollectionStatus, FailedJobs, JobStory, NodeHealth, QueryAnswer
from .discovery import ListFunctions, catalogue, run_kql, schema_of
from .guard import QueryRejected
from .jobs import failed_jobs, job_story
from .nodes import node_health
from .status import collection_status
from .workspace import Workspace

MAX_BYTES_LIMIT = 65536
MaxBytes = Annotated[int, Field(DEFAULT_MAX_BYTES, ge=1024, le=MAX_BYTES_LIMIT,
                                description="size budget of the answer's JSON; lists are cut to fit")]
INSTRUCTIONS = """Logs of a Slurm cluster in Azure Monitor. Start from the question: job_story(job_id)
for why a job failed (classification with cited lines), failed_jobs for a period, node_health for a
node, collection_status for whether logs are collected at all. list_tables gives tables and columns
for run_kql. Every answer is bounded: read `truncated` and `more`."""
RUNBOOK_JOB = """Debug Slurm job {job_id}:
1. Call job_story(job_id={job_id}). Read classification.category and its evidence lines first.
2. out_of_memory: compare the job's --mem with what the evidence says it used; time_limit: its
   --time; cancelled: who cancelled it (the summary names the uid); command_not_found: the script
   line that calls it, and PATH / module lines in the environment.
3. node_failure or prolog_epilog_failure: call node_health(node) for each of its nodes.
4. unknown: read stderr_tail and the cited lines; widen with run_kql over the job's window.
5. If truncated is true, follow `more` before concluding. Quote the lines you rely on."""
RUNBOOK_NODE = """Check node {node}:
1. Call node_health(node="{node}"). agent "silent" or "never seen": the logs stop here; call
   collection_status for the fix (agent, identity, associations).
2. drains: slurmctld's reason; errors: slurmd / kernel lines (oom-kill, hardware, NFS).
3. For a job that failed on it, job_story(job_id). Quote the lines you rely on."""


def _answers(tool: Callable) -> Callable:
    """A tool whose user-facing failures become tool errors: one line, the fix in it."""

    @functools.wraps(tool)
    def run(*args, **kwargs):
        try:
            return tool(*args, **kwargs)
        except (UserError, QueryRejected) as exc:
            raise ToolError(str(exc).replace("\n", "; ")) from None
        except AzureError as exc:
            raise ToolError(f"Azure: {describe(exc)}") from None

    return run


class SlurmLogServer(MCPServer):
    """The SDK's server, but arguments that fail the tools' schemas are one line that names each
    field and its rule, as every error a user can cause is here (the SDK's is pydantic's several
    lines, with a link per error)."""

    async def call_tool(self, name, arguments, context=None):
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            if not isinstance(exc, UnexpectedToolError) and isinstance(exc.__cause__, ValidationError):
                raise ToolError(arguments_refused(name, exc.__cause__)) from exc.__cause__
            raise


def arguments_refused(tool: str, error: ValidationError) -> str:
    """`job_story: job_id: Input should be greater than or equal to 1`; the values are left out
    (a rejected KQL text can be 10,000 characters)."""
    problems = "; ".join(
        f"{'.'.join(str(part) for part in e['loc']) or 'arguments'}: {e['msg']}" for e in error.errors(include_url=False)
    )
    return f"{tool}: {problems} (the tool's input schema has each argument's type and range)"


def build_server(workspace: Workspace, reconciler: Reconciler | None = None, functions: ListFunctions | None = None,
                 row_cap: int = 500, token_verifier: TokenVerifier | None = None, auth: AuthSettings | None = None) -> MCPServer:
    server = SlurmLogServer("slurm-log-controller", instructions=INSTRUCTIONS, version=__version__,
                       token_verifier=token_verifier, auth=auth,
                       log_level="WARNING")  # the SDK sets the root logger's level: the CLI's -v decides ours
    def tool(**kw):
        return lambda fn: server.tool(**kw)(_answers(fn))

    @tool(name="job_story", description="A job's whole story in at most 3 Logs queries: state, exit code, reason, nodes, "
          "window; why it ended (classification with the evidence lines cited); script; environment "
          "(secrets redacted); stdout/stderr tails; its nodes' slurmd, kernel and syslog lines in its window.")
    def job_story_tool(job_id: Annotated[int, Field(ge=1, le=2**63 - 1, description="Slurm job id (an array task's own id)")],
                       days: Annotated[float, Field(7, gt=0, le=31, description="how far back to look")] = 7,
                       max_bytes: MaxBytes = DEFAULT_MAX_BYTES) -> JobStory:
        return job_story(workspace.asking(), job_id, days, max_bytes)

    @tool(name="failed_jobs", description="Jobs that did not complete with exit 0 in a period (from slurmctld's lines, one query): "
          "state, exit code, coarse reason. job_story gives each one's evidence.")
    def failed_jobs_tool(hours: Annotated[float, Field(24, gt=0, le=744, description="the period: the last N hours")] = 24,
                         limit: Annotated[int, Field(20, ge=1, le=500)] = 20,
                         max_bytes: MaxBytes = DEFAULT_MAX_BYTES) -> FailedJobs:
        now = workspace.now()
        return failed_jobs(workspace.asking(), now - _dt.timedelta(hours=hours), now, limit, max_bytes)

    @tool(name="node_health", description="A node's health: its agent's last heartbeat, which tables hold its lines and how fresh, "
          "slurmctld's drains / not-responding lines, and its error lines (3 Logs queries).")
    def node_health_tool(node: Annotated[str, Field(min_length=1, max_length=253, description="host name (Computer)")],
                         hours: Annotated[float, Field(24, gt=0, le=744)] = 24,
                         max_bytes: MaxBytes = DEFAULT_MAX_BYTES) -> NodeHealth:
        return node_health(workspace.asking(), node, hours, max_bytes)

    @tool(name="collection_status", description="Is the cluster's logging set up and sending? The plan's pending changes (as `plan`) and "
          "each machine's verdict and fix (as `doctor`).")
    def collection_status_tool(max_bytes: MaxBytes = DEFAULT_MAX_BYTES) -> CollectionStatus:
        if reconciler is None:
            raise ToolError("collection_status needs Resource Manager settings (SUBSCRIPTION_ID, RESOURCE_GROUP, "
                            "WORKSPACE_NAME, CLUSTER_NAME): set them where the server runs")
        return collection_status(reconciler, workspace.asking(), max_bytes)

    @tool(name="list_tables", description="The tables (parsed and raw) with their columns, and the workspace's functions.")
    def list_tables(max_bytes: MaxBytes = DEFAULT_MAX_BYTES) -> Catalogue:
        return catalogue(workspace.catalog, functions, max_bytes)

    @tool(name="run_kql", description="Run a read-only KQL query over a time window you name. Management commands (`.show` ...) "
          "and other workspaces are refused; rows and bytes are capped (`truncated` says when).")
    def run_kql_tool(kql: Annotated[str, Field(min_length=1, max_length=10000)],
                     since: Annotated[_dt.datetime, Field(description="window start (ISO 8601, UTC if no zone)")],
                     until: Annotated[_dt.datetime | None, Field(description="window end; default now")] = None,
                     max_rows: Annotated[int, Field(50, ge=1)] = 50,
                     max_bytes: MaxBytes = DEFAULT_MAX_BYTES) -> QueryAnswer:
        return run_kql(workspace.asking(), kql, since, until, min(max_rows, row_cap), max_bytes)

    _prompts_and_resources(server, workspace)
    return server


def _prompts_and_resources(server: MCPServer, workspace: Workspace) -> None:
    @server.prompt(name="debug_failed_job", description="A short runbook: why did this job fail?")
    def debug_failed_job(job_id: str) -> str:
        return RUNBOOK_JOB.format(job_id=int(job_id))

    @server.prompt(name="check_node", description="A short runbook: is this node healthy?")
    def check_node(node: str) -> str:
        return RUNBOOK_NODE.format(node=node)

    @server.resource("schema://tables", name="tables", description="The tables and their columns", mime_type="application/json")
    def tables() -> str:
        return catalogue(workspace.catalog, None, MAX_BYTES_LIMIT).model_dump_json(include={"tables"})

    @server.resource("schema://tables/{name}", name="table", description="One table's columns", mime_type="application/json")
    def table(name: str) -> str:
        found = workspace.catalog.table(name)
        if found is None:
            raise ValueError(f"no table {name}: read schema://tables for the list")
        return schema_of(found).model_dump_json()
