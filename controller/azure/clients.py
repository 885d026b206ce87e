"""Credential and SDK clients for one subscription, on the configured cloud."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import requests
from azure.core.credentials import TokenCredential
from azure.core.pipeline.transport import RequestsTransport
from azure.identity import DefaultAzureCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.loganalytics import LogAnalyticsManagementClient
from azure.mgmt.monitor import MonitorManagementClient
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies
from urllib3.util.retry import Retry

from ..logs import RequestLogPolicy
from ..ratelimit import ArmRateLimiter
from ..settings import Settings

# A read timeout is retried once: a hung endpoint costs about 2 x HTTP_READ_TIMEOUT per request,
# not azure-core's default 4 x.
READ_RETRIES = 1


def default_credential(settings: Settings) -> TokenCredential:
    """Managed identity on the VM, workload identity on AKS, `az login` for a person. A token
    endpoint that takes the connection and never answers must not stall for azure-core's 300 s."""
    return DefaultAzureCredential(
        authority=settings.authority, read_timeout=settings.http_read_timeout, retry_read=READ_RETRIES
    )


def pooled_transport(endpoint: str, connections: int, connect_timeout: float, read_timeout: float) -> RequestsTransport:
    """azure-core's own session keeps 10 connections per host: past that, every concurrent request
    opens (and TLS-handshakes) a connection it then throws away. One session, sized for our
    concurrency, shared by the three clients. azure-core waits 300 s by default for a connection
    and for each read: one hung response would stall a pass for minutes.

    Every request of the session goes to `endpoint`, so the environment is read once, as requests
    reads it (HTTPS_PROXY and NO_PROXY; REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE): requests would
    read it again on every request, a fifth of a list page's CPU, and look for a ~/.netrc entry,
    which would replace the bearer token."""
    session = requests.Session()
    session.trust_env = False
    session.proxies = get_environ_proxies(endpoint)
    ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    adapter = HTTPAdapter(
        pool_maxsize=connections,
        max_retries=Retry(total=False, redirect=False, raise_on_status=False),  # azure-core retries
    )
    for scheme in ("https://", "http://"):
        session.mount(scheme, adapter)
    return RequestsTransport(
        session=session, session_owner=False, connection_timeout=connect_timeout, read_timeout=read_timeout,
        connection_verify=ca_bundle or True,
    )


@dataclass
class AzureClients:
    settings: Settings
    credential: TokenCredential
    # Shared by all three clients: ARM's limits are per subscription, not per client.
    limiter: ArmRateLimiter | None = None
    on_response: Callable | None = None  # sees every response (metrics)

    def __post_init__(self):
        s = self.settings
        if self.limiter is None:
            self.limiter = ArmRateLimiter(
                s.arm_write_burst, s.arm_writes_per_second, s.arm_read_burst, s.arm_reads_per_second,
                s.arm_delete_burst, s.arm_deletes_per_second,
            )
        self.transport = pooled_transport(s.resource_manager, s.apply_concurrency + 4, s.http_connect_timeout, s.http_read_timeout)

    def _kwargs(self) -> dict:
        endpoint = self.settings.resource_manager
        kwargs = {
            "base_url": endpoint,
            "credential_scopes": [f"{endpoint}/.default"],
            # azure-core's custom hook runs after its retry policy: retries take tokens too.
            "raw_request_hook": self.limiter.before_request,
            "transport": self.transport,
            "retry_read": READ_RETRIES,
            # Per call, so it wraps the retry policy: one line per request, with its retries.
            "per_call_policies": [RequestLogPolicy()],
        }
        if self.on_response:
            kwargs["raw_response_hook"] = self.on_response
        return kwargs

    @cached_property
    def monitor(self) -> MonitorManagementClient:
        return MonitorManagementClient(self.credential, self.settings.subscription_id, **self._kwargs())

    @cached_property
    def log_analytics(self) -> LogAnalyticsManagementClient:
        return LogAnalyticsManagementClient(self.credential, self.settings.subscription_id, **self._kwargs())

    @cached_property
    def compute(self) -> ComputeManagementClient:
        return ComputeManagementClient(self.credential, self.settings.subscription_id, **self._kwargs())
