"""``slurm-log-controller mcp``: the server wired to Azure, over stdio or Streamable HTTP.

HTTP is never open by accident: ``MCP_AUTH=entra`` (the default) needs MCP_TENANT_ID and
MCP_AUDIENCE and verifies every bearer token; ``local-only`` takes no token and so refuses any
address but loopback. DNS-rebinding protection is always on, with the allowed Host and Origin
headers set explicitly (the SDK switches it on by itself only for loopback binds)."""

from __future__ import annotations

import ipaddress

from mcp.server import MCPServer
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings

from ..azure.clients import AzureClients, default_credential
from ..azure.logs import LogsReader
from ..components import load_config
from ..errors import UserError
from ..observe import observe_workspace
from ..reconcile import REQUIRED, Reconciler
from ..settings import Cloud, Settings
from .auth import EntraTokenVerifier, entra_issuers, fetch_jwks
from .catalog import Catalog
from .discovery import functions_of
from .server import build_server
from .workspace import Workspace

LOOPBACK_HOSTS = ("127.0.0.1:*", "localhost:*", "[::1]:*")
MCP_PATH = "/mcp"


def server_for(settings: Settings, config_path, auth: bool) -> MCPServer:
    """The server over this deployment's workspace (its customerId read from Resource Manager
    once), with the plan and doctor when the cluster is named."""
    settings.require(*REQUIRED)
    config = load_config(config_path)
    clients = AzureClients(settings, default_credential(settings))
    found = observe_workspace(clients, settings)
    reader = LogsReader.from_settings(settings, clients.credential)
    workspace = Workspace(reader.query, found.customer_id, Catalog(config.components))
    named = settings.cluster_name or settings.vm_id or settings.compute_vmss_ids
    reconciler = Reconciler(settings, config.components, clients, config.nodearray_roles) if named else None

    def functions():
        listed = clients.log_analytics.saved_searches.list_by_workspace(settings.workspace_rg, settings.workspace_name)
        return functions_of(listed.value or [])

    verifier, auth_settings = entra_auth(settings) if auth else (None, None)
    return build_server(workspace, reconciler, functions, settings.mcp_max_rows, verifier, auth_settings)


def loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def check_http(settings: Settings) -> None:
    """Refuse an HTTP setup that would be open or unprotected, before anything is read."""
    if settings.mcp_auth == "local-only" and not loopback(settings.mcp_address):
        raise UserError(f"MCP_AUTH=local-only takes no token, so it listens on loopback only, not MCP_ADDRESS="
                        f"{settings.mcp_address}: set MCP_ADDRESS=127.0.0.1, or MCP_AUTH=entra with MCP_TENANT_ID and MCP_AUDIENCE")
    if settings.mcp_auth == "entra":
        missing = [n for n in ("mcp_tenant_id", "mcp_audience") if not getattr(settings, n)]
        if missing:
            raise UserError(f"{' and '.join(m.upper() for m in missing)} not set: MCP_AUTH=entra verifies Entra ID tokens "
                            "for a tenant and an audience (the server's app registration); or MCP_AUTH=local-only on loopback")
    if not loopback(settings.mcp_address) and not settings.mcp_allowed_hosts:
        raise UserError(f"MCP_ALLOWED_HOSTS is not set: on MCP_ADDRESS={settings.mcp_address} name the Host headers "
                        "clients use (e.g. mcp.example.org:443), so DNS rebinding can't reach the server")


def transport_security(settings: Settings) -> TransportSecuritySettings:
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=settings.mcp_allowed_hosts or list(LOOPBACK_HOSTS),
        allowed_origins=settings.mcp_allowed_origins,
    )


def entra_auth(settings: Settings) -> tuple[EntraTokenVerifier, AuthSettings]:
    tenant, authority = settings.mcp_tenant_id, settings.authority
    issuers = tuple(settings.mcp_issuers) or entra_issuers(authority, tenant, settings.azure_cloud == Cloud.PUBLIC)
    jwks = settings.mcp_jwks_url or f"https://{authority}/{tenant}/discovery/v2.0/keys"
    verifier = EntraTokenVerifier(fetch_jwks(jwks, settings.http_read_timeout), issuers, settings.mcp_audience,
                                  settings.mcp_required_scope or "")
    public = settings.mcp_public_url or f"http://{settings.mcp_address}:{settings.mcp_port}{MCP_PATH}"
    return verifier, AuthSettings(
        issuer_url=f"https://{authority}/{tenant}/v2.0", resource_server_url=public,
        required_scopes=[settings.mcp_required_scope] if settings.mcp_required_scope else None,
        validate_token_resource=False,  # the verifier checks aud against MCP_AUDIENCE itself
    )


def http_app(server: MCPServer, settings: Settings):
    return server.streamable_http_app(streamable_http_path=MCP_PATH, transport_security=transport_security(settings),
                                      host=settings.mcp_address)


def serve(settings: Settings, config_path, transport: str) -> None:
    """Until interrupted: stdio for a desktop client that starts it, HTTP for a shared one."""
    if transport == "stdio":
        server_for(settings, config_path, auth=False).run("stdio")
        return
    check_http(settings)
    server = server_for(settings, config_path, auth=settings.mcp_auth == "entra")
    import uvicorn

    uvicorn.run(http_app(server, settings), host=settings.mcp_address, port=settings.mcp_port, log_level="warning")
