"""The HTTP transport: Entra ID bearer tokens verified (signature against the tenant's JWKS,
issuer, audience, expiry), DNS-rebinding protection, and the local-only mode. The keys are
made here and served to the verifier in place of Entra ID's discovery keys (no network)."""

import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.testclient import TestClient

from controller.cli import main
from controller.mcp import run
from controller.settings import load_settings

TENANT = "11111111-2222-3333-4444-555555555555"
AUDIENCE = "api://slurm-logs-mcp"
ISSUER = f"https://login.microsoftonline.com/{TENANT}/v2.0"
URL = "http://127.0.0.1:8480/mcp"
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}}


def key_pair(kid):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    return private, {**public, "kid": kid, "use": "sig", "alg": "RS256"}


TENANT_KEY, TENANT_JWK = key_pair("tenant-key")
OTHER_KEY, _ = key_pair("tenant-key")  # same kid, not the tenant's key


def token(key=TENANT_KEY, **claims):
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "nbf": now, "exp": now + 3600, "sub": "user-1",
            "tid": TENANT, "azp": "client-app", "scp": "Logs.Read", **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm="RS256",
                      headers={"kid": "tenant-key"})


@pytest.fixture
def entra(filled, monkeypatch):
    monkeypatch.setattr(run, "fetch_jwks", lambda url, timeout: lambda: {"keys": [TENANT_JWK]})
    for name, value in {"MCP_TENANT_ID": TENANT, "MCP_AUDIENCE": AUDIENCE}.items():
        monkeypatch.setenv(name, value)
    return load_settings()


def client(settings):
    run.check_http(settings)
    server = run.server_for(settings, None, auth=settings.mcp_auth == "entra")
    return TestClient(run.http_app(server, settings), base_url="http://127.0.0.1:8480")


def initialize(http, bearer=None, host=None):
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    if host:
        headers["Host"] = host
    return http.post("/mcp", json=INITIALIZE, headers=headers)


def test_a_valid_token_is_served(entra):
    with client(entra) as http:
        answer = initialize(http, token())
    assert answer.status_code == 200, answer.text
    assert "slurm-log-controller" in answer.text


@pytest.mark.parametrize("bad", [
    None,
    token(aud="api://another-app"),
    token(exp=int(time.time()) - 3600, nbf=int(time.time()) - 7200, iat=int(time.time()) - 7200),
    token(iss="https://login.microsoftonline.com/99999999-2222-3333-4444-555555555555/v2.0"),
    token(key=OTHER_KEY),
    token(exp=None),
    "not-a-jwt",
], ids=["none", "wrong audience", "expired", "another tenant", "not the tenant's key", "no expiry", "garbage"])
def test_no_valid_token_is_refused(entra, bad):
    with client(entra) as http:
        answer = initialize(http, bad)
    assert answer.status_code == 401, answer.text
    assert "Bearer" in answer.headers.get("www-authenticate", "")


def test_a_v1_token_of_the_tenant_is_served(entra):
    with client(entra) as http:
        assert initialize(http, token(iss=f"https://sts.windows.net/{TENANT}/")).status_code == 200


def test_a_required_scope(entra, monkeypatch):
    monkeypatch.setenv("MCP_REQUIRED_SCOPE", "Logs.Admin")
    with client(load_settings()) as http:
        assert initialize(http, token()).status_code in (401, 403)
        assert initialize(http, token(scp="Logs.Read Logs.Admin")).status_code == 200


def test_another_host_header_is_refused(entra):
    """DNS rebinding: a page on evil.example whose name now resolves to this host."""
    with client(entra) as http:
        answer = initialize(http, token(), host="evil.example:8480")
    assert answer.status_code == 421, answer.text


def test_local_only_takes_no_token_on_loopback(filled, monkeypatch):
    monkeypatch.setenv("MCP_AUTH", "local-only")
    with client(load_settings()) as http:
        assert initialize(http).status_code == 200


@pytest.mark.parametrize("env, says", [
    ({"MCP_AUTH": "local-only", "MCP_ADDRESS": "0.0.0.0"}, "MCP_AUTH=local-only takes no token"),
    ({"MCP_AUDIENCE": AUDIENCE}, "MCP_TENANT_ID not set"),
    ({"MCP_TENANT_ID": TENANT, "MCP_AUDIENCE": AUDIENCE, "MCP_ADDRESS": "0.0.0.0"}, "MCP_ALLOWED_HOSTS is not set"),
    ({"MCP_TENANT_ID": "not-a-guid"}, "MCP_TENANT_ID"),
])
def test_an_open_http_setup_is_refused_before_anything_is_read(sim, azure, monkeypatch, capsys, env, says):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    sim.reset_calls()
    assert main(["mcp", "--transport", "http"]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1 and "Traceback" not in err
    assert sim.reads() == 0


def test_keys_that_cant_be_fetched_refuse_the_token(entra, monkeypatch):
    def unreachable():
        raise OSError("Name or service not known")

    monkeypatch.setattr(run, "fetch_jwks", lambda url, timeout: unreachable)
    with client(load_settings()) as http:
        assert initialize(http, token()).status_code == 401
