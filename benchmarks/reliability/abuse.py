"""The MCP server under abuse (issue 13 item 3): each case sent through the SDK's in-memory client
and through the Streamable HTTP transport (with a valid Entra ID token), plus tokens that must be
refused and 20 sessions at once. A case holds when the answer is what it expects (a tool error
naming the field or rule: ours one line, the SDK's argument validation the field and its
constraint; or an answer within its byte cap, `truncated` as expected), no secret
is in it (tokens, the managed-identity header, the bearer token, a value the archive should have
redacted), and the server answers a plain call afterwards."""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp import Client
from starlette.testclient import TestClient

from controller.mcp import run
from controller.settings import load_settings
from tests.mcpserver.test_http import AUDIENCE, INITIALIZE, TENANT, TENANT_JWK, token
from tests.mcpserver.workspace_fill import LARGE_JOB, feed, real_logs
from tests.test_secrets import ARCHIVED_SECRET, leaked

from .world import environ

DEFAULT_BYTES = 8192
SESSIONS = 20
SINCE = "since"  # replaced by a day ago when sent


@dataclass(frozen=True)
class Abuse:
    name: str
    tool: str
    arguments: dict[str, Any]
    refused: str = ""  # a word of the one-line tool error; "" when it must be answered
    truncated: bool | None = None  # when answered: must `truncated` be set (None: either)
    max_bytes: int = DEFAULT_BYTES


def _kql(kql: str, **more) -> dict[str, Any]:
    return {"kql": kql, "since": SINCE, **more}


CASES = (
    Abuse("management command", "run_kql", _kql(".show tables"), refused="management command"),
    Abuse("management command after a query", "run_kql", _kql("print 1;\n.drop table slurmd_CL"), refused="management command"),
    Abuse("management command after a comment", "run_kql", _kql("// harmless\n.set-or-append t <| print 1"),
          refused="management command"),
    Abuse("another workspace", "run_kql", _kql('workspace("other").Heartbeat'), refused="outside this workspace"),
    Abuse("externaldata", "run_kql", _kql('externaldata(x:string)["https://evil.example/x"]'), refused="outside this workspace"),
    Abuse("evaluate http_request", "run_kql", _kql('evaluate http_request("https://evil.example")'),
          refused="outside this workspace"),
    Abuse("union * without a window", "run_kql", {"kql": "union *"}, refused="since"),
    Abuse("union * over ten years", "run_kql", _kql("union *", since="2016-12-01T00:00:00Z"), refused="at most 31"),
    Abuse("union * asking 10^8 rows", "run_kql", _kql("union * | take 100000000", max_rows=100000000), truncated=True),
    # 4,002 lines of 80 characters, each 1,000 times: 320 MB were it not capped (the simulator
    # computes what Azure would; the row cap keeps both small).
    Abuse("a query of 320 MB (every archive line 1,000 times)", "run_kql",
          _kql("slurmjobs_CL | extend pad = strrep(Message, 1000)"), truncated=True),
    Abuse("the archive's environment read raw", "run_kql", _kql('slurmjobs_CL | where FileKind == "environment"')),
    Abuse("a 10,001-character query", "run_kql", _kql("x" * 10001), refused="10000"),
    Abuse("an empty query", "run_kql", _kql(" ;; "), refused="empty"),
    Abuse("a window that ends before it starts", "run_kql", _kql("print 1", until="2000-01-01T00:00:00Z"), refused="before it starts"),
    Abuse("a job id of 41 digits", "job_story", {"job_id": 10**40}, refused="job_id"),
    Abuse("a negative job id", "job_story", {"job_id": -1}, refused="job_id"),
    Abuse("a job id that is text", "job_story", {"job_id": "4 or 1==1"}, refused="job_id"),
    Abuse("days NaN", "job_story", {"job_id": LARGE_JOB, "days": "nan"}, refused="days"),
    Abuse("max_bytes of a gigabyte", "job_story", {"job_id": LARGE_JOB, "max_bytes": 10**9}, refused="max_bytes"),
    Abuse("a job of 4,002 output lines", "job_story", {"job_id": LARGE_JOB, "days": 31}, truncated=True),
    Abuse("a node name of 300 characters", "node_health", {"node": "n" * 300}, refused="node"),
    Abuse("a node name that injects KQL", "node_health", {"node": 'x" or 1 == 1 or "'}),
    Abuse("failed_jobs limit 10^9", "failed_jobs", {"limit": 10**9}, refused="limit"),
    Abuse("an unknown tool", "drop_tables", {}, refused="Unknown tool"),
    Abuse("an unknown argument only", "list_tables", {"everything": True}),
)


@dataclass
class Outcome:
    case: str
    transport: str
    problems: list[str] = field(default_factory=list)


def _sent(arguments: dict[str, Any], since: str) -> dict[str, Any]:
    return {k: since if v == SINCE else v for k, v in arguments.items()}


def _judged(case: Abuse, transport: str, is_error: bool, text: str, answer: dict | None, secrets: list[str]) -> Outcome:
    found = Outcome(case.name, transport)
    if case.refused:
        if not is_error:
            found.problems.append("answered, not refused")
        elif case.refused not in text:
            found.problems.append(f"the error doesn't say {case.refused!r}: {text[:200]!r}")
    elif is_error:
        found.problems.append(f"refused: {text[:200]!r}")
    else:
        compact = len(json.dumps(answer, separators=(",", ":")))
        if compact > case.max_bytes:
            found.problems.append(f"{compact} bytes, over {case.max_bytes}")
        if case.truncated is not None and answer.get("truncated") != case.truncated:
            found.problems.append(f"truncated is {answer.get('truncated')}")
    if "Traceback" in text or re.fullmatch(r"Error executing tool \w+", text.strip()):  # the SDK's word for a crash
        found.problems.append(f"an unexpected error: {text[:200]!r}")
    found.problems += [f"leaked {s}" for s in secrets]
    return found


async def _in_memory(server, cases, since: str, secrets) -> list[Outcome]:
    """Every case in one session: an abusive call must not end it."""
    found = []
    async with Client(server) as client:
        for case in cases:
            result = await client.call_tool(case.tool, _sent(case.arguments, since))
            text = " ".join(getattr(c, "text", "") for c in result.content)
            answer = result.structured_content or {}
            found.append(_judged(case, "in-memory", result.is_error, text, answer,
                                 secrets(text + json.dumps(answer, default=str))))
        alive = await client.call_tool("list_tables", {})
        if alive.is_error:
            found.append(Outcome("the session after every case", "in-memory", ["list_tables failed"]))
    return found


class _Http:
    """A Streamable HTTP session: initialize, then JSON-RPC calls with its session id."""

    def __init__(self, http: TestClient, bearer: str | None):
        self.http, self.headers, self.next_id = http, {"Accept": "application/json, text/event-stream"}, 2
        if bearer:
            self.headers["Authorization"] = f"Bearer {bearer}"
        self.opened = http.post("/mcp", json=INITIALIZE, headers=self.headers)
        if self.opened.status_code == 200:
            self.headers["mcp-session-id"] = self.opened.headers.get("mcp-session-id", "")
            self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def post(self, message: dict):
        return self.http.post("/mcp", json=message, headers=self.headers)

    def call(self, tool: str, arguments: dict) -> tuple[str, dict]:
        self.next_id += 1
        answer = self.post({"jsonrpc": "2.0", "id": self.next_id, "method": "tools/call",
                            "params": {"name": tool, "arguments": arguments}})
        data = [line[5:] for line in answer.text.splitlines() if line.startswith("data:")] or [answer.text]
        return answer.text, json.loads(data[-1])


def _over_http(http: TestClient, cases, since: str, bearer: str, secrets) -> list[Outcome]:
    found = []
    session = _Http(http, bearer)
    for case in cases:
        raw, message = session.call(case.tool, _sent(case.arguments, since))
        result = message.get("result") or {}
        is_error = bool(result.get("isError")) or "error" in message
        text = " ".join(c.get("text", "") for c in result.get("content", [])) or json.dumps(message.get("error", ""))
        found.append(_judged(case, "HTTP", is_error, text, result.get("structuredContent") or {}, secrets(raw)))
    return found


#: Tokens the HTTP transport must refuse (401) before any tool runs.
def _bad_tokens() -> dict[str, str | None]:
    now = int(time.time())
    return {"no token": None, "wrong audience": token(aud="api://another-app"),
            "expired": token(exp=now - 3600, nbf=now - 7200, iat=now - 7200), "not a JWT": "not-a-jwt"}


def _refused_tokens(http: TestClient, sim, secrets) -> list[Outcome]:
    found = []
    for name, bearer in _bad_tokens().items():
        sim.reset_calls()
        session = _Http(http, bearer)
        problems = [] if session.opened.status_code == 401 else [f"answered {session.opened.status_code}"]
        if "Bearer" not in session.opened.headers.get("www-authenticate", ""):
            problems.append("no WWW-Authenticate: Bearer")
        if sim.calls:
            problems.append(f"reached Azure: {dict(sim.calls)}")
        found.append(Outcome(f"HTTP with {name}", "HTTP", problems + [f"leaked {s}" for s in secrets(session.opened.text)]))
    return found


async def _many_sessions(server, since: str, secrets) -> Outcome:
    found = Outcome(f"{SESSIONS} sessions at once", "in-memory")

    async def one(i: int):
        async with Client(server) as client:
            result = await client.call_tool(*(("job_story", {"job_id": LARGE_JOB, "days": 31}) if i % 2 else
                                              ("run_kql", {"kql": "union * | take 1000", "since": since})))
            text = json.dumps(result.structured_content or {}, default=str)
            if result.is_error or len(text) > DEFAULT_BYTES + 512:  # json.dumps' spaces over the compact size
                found.problems.append(f"session {i}: error {result.is_error}, {len(text)} bytes")
            found.problems.extend(f"session {i} leaked {s}" for s in secrets(text))

    async with anyio.create_task_group() as group:
        for i in range(SESSIONS):
            group.start_soon(one, i)
    return found


def abuse_runs(sim, cases: tuple[Abuse, ...] = CASES) -> list[Outcome]:
    """Fills the served simulator's workspace (real logs, and a job environment holding a secret
    the archive should have redacted), then the cases over both transports, the tokens to refuse
    and the concurrent sessions."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        logs = real_logs(sim)
        logs[sim.cluster.scheduler_vm_id][f"/shared/slurm-logs/job_{LARGE_JOB}.sjatest.env"] = [
            f"SLURM_JOB_ID={LARGE_JOB}", f"DB_PASSWORD={ARCHIVED_SECRET}", f"DATABASE_URL=postgres://app:{ARCHIVED_SECRET}@db/x"]
        feed(sim, logs)
    since = (sim.clock() - _dt.timedelta(days=1)).isoformat()
    bearer = token()

    def secrets(text: str) -> list[str]:
        return leaked(sim, text) + (["the bearer token"] if bearer in text else [])

    with environ(MCP_TENANT_ID=TENANT, MCP_AUDIENCE=AUDIENCE):
        settings = load_settings()
    keys = run.fetch_jwks
    run.fetch_jwks = lambda url, timeout: lambda: {"keys": [TENANT_JWK]}  # the tenant's keys, without the network
    try:
        server = run.server_for(settings, None, auth=True)
        with TestClient(run.http_app(server, settings), base_url="http://127.0.0.1:8480") as http:
            found = _over_http(http, cases, since, bearer, secrets) + _refused_tokens(http, sim, secrets)
            if _Http(http, bearer).opened.status_code != 200:
                found.append(Outcome("the HTTP server after every case", "HTTP", ["no longer serves"]))
    finally:
        run.fetch_jwks = keys
    local = run.server_for(settings, None, auth=False)
    found += anyio.run(_in_memory, local, cases, since, secrets)
    found.append(anyio.run(_many_sessions, local, since, secrets))
    return found
