"""The Logs query API (``azure-monitor-query``): one query in, its rows out, a failure as one line.

Not a Resource Manager call: its own endpoint (``LOGS_ENDPOINT``, per cloud), its own token
audience (the endpoint), and the workspace is named by its customerId ("Workspace ID").
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.monitor.query import LogsQueryClient, LogsQueryPartialResult

from ..doctor.freshness import QueryResult
from ..errors import UserError
from ..logs import RequestLogPolicy
from ..settings import Settings
from .clients import READ_RETRIES, pooled_transport
from .errors import describe

# A throttled query is retried by azure-core after its Retry-After; twice is enough for one pass
# (the next pass asks again), and keeps a throttled workspace from stalling doctor for minutes.
QUERY_RETRIES = 2
# The role that reads a workspace's data (learn.microsoft.com azure-monitor/logs/manage-access).
READ_ROLE = "Log Analytics Reader"


class LogsQueryFailed(UserError):
    """The query got no answer: the message names the workspace, the cause and the fix."""


# A query is a read sent as a POST: azure-core retries a POST only on 500/503/504, so a query that
# timed out or whose connection dropped would cost the whole answer. Retried as a GET would be
# (azure-core's per-call `retry_on_methods`).
QUERY_RETRY_METHODS = frozenset({"HEAD", "GET", "PUT", "DELETE", "OPTIONS", "TRACE", "POST"})


def logs_client(settings: Settings, credential: TokenCredential) -> LogsQueryClient:
    return LogsQueryClient(
        credential,
        endpoint=settings.logs_query_endpoint,
        transport=pooled_transport(settings.logs_query_endpoint, 2, settings.http_connect_timeout, settings.http_read_timeout),
        retry_total=QUERY_RETRIES,
        retry_read=READ_RETRIES,
        # This client takes no per_call_policies; its hook slot, after the retry policy, logs
        # each attempt (`-v`) as ARM requests are logged.
        custom_hook_policy=RequestLogPolicy(),
    )


class LogsReader:
    """Runs KQL against one workspace; :meth:`query` is the ``run`` of :func:`..doctor.freshness.freshness`."""

    def __init__(self, client: LogsQueryClient, workspace_name: str, endpoint: str) -> None:
        self.client = client
        self.workspace_name = workspace_name
        self.endpoint = endpoint

    @classmethod
    def from_settings(cls, settings: Settings, credential: TokenCredential) -> "LogsReader":
        return cls(logs_client(settings, credential), settings.workspace_name or "", settings.logs_query_endpoint)

    def query(self, customer_id: str, kql: str, timespan: tuple[_dt.datetime, _dt.datetime]) -> QueryResult:
        try:
            answer = self.client.query_workspace(customer_id, kql, timespan=timespan, retry_on_methods=QUERY_RETRY_METHODS)
        except AzureError as exc:
            raise LogsQueryFailed(f"querying workspace {self.workspace_name} ({customer_id}): {self._failure(exc)}") from None
        if isinstance(answer, LogsQueryPartialResult):
            tables, error = answer.partial_data or [], partial_error_text(answer.partial_error)
        else:
            tables, error = answer.tables, ""
        table = tables[0] if tables else None
        return QueryResult(
            columns=tuple(table.columns) if table else (),
            rows=tuple(tuple(row) for row in table.rows) if table else (),
            partial=isinstance(answer, LogsQueryPartialResult),
            error=error,
        )

    def _failure(self, exc: AzureError) -> str:
        if isinstance(exc, ClientAuthenticationError) and exc.response is None:
            return describe(exc)
        if isinstance(exc, HttpResponseError):
            status = exc.status_code
            if status in (401, 403):
                return f"{describe(exc)}; grant the controller's identity {READ_ROLE} on workspace {self.workspace_name}"
            if status == 404:
                return f"{describe(exc)}; check WORKSPACE_NAME, and AZURE_CLOUD / LOGS_ENDPOINT ({self.endpoint})"
            if status == 429:
                return f"{describe(exc)}; the Logs query API is throttling this identity: run again in a minute"
            if status == 400:
                return f"the query was refused: {innermost(exc)}"
            return describe(exc)
        if isinstance(exc, ServiceResponseTimeoutError):  # after the retry of the read
            return (f"the Logs query API did not answer in time ({str(exc).splitlines()[0][:200]}); "
                    "HTTP_READ_TIMEOUT sets how long to wait")
        if isinstance(exc, ServiceResponseError):
            return f"the Logs query API broke off its answer ({str(exc).splitlines()[0][:200]}); run again"
        if isinstance(exc, ServiceRequestError):
            return (f"cannot reach the Logs query API at {self.endpoint} ({str(exc).splitlines()[0][:200]}): check "
                    "AZURE_CLOUD / LOGS_ENDPOINT, DNS, and HTTPS_PROXY if a proxy is needed")
        return describe(exc).splitlines()[0]


def innermost(exc: HttpResponseError) -> str:
    """The deepest ``innererror`` message Log Analytics sent (the engine's own reason)."""
    inner = _deepest({"innererror": getattr(exc.error, "innererror", None)})
    if inner.get("message"):
        return str(inner["message"]).splitlines()[0]
    return describe(exc)


def _deepest(error: Mapping[str, Any]) -> Mapping[str, Any]:
    """The innermost ``innererror`` (the SDK's error details are mappings, not always dicts)."""
    while isinstance(error, Mapping) and isinstance(error.get("innererror"), Mapping):
        error = error["innererror"]
    return error if isinstance(error, Mapping) else {}


def partial_error_text(error) -> str:
    """A ``PartialError`` as one line: its message and each detail's innermost reason."""
    if error is None:
        return "partial result (no reason given)"
    reasons = []
    for detail in getattr(error, "details", None) or []:
        inner = _deepest(detail)
        if inner.get("message"):
            reasons.append(str(inner["message"]).splitlines()[0])
    text = f"{error.code or 'PartialError'}: {error.message or 'partial result'}"
    return f"{text} ({'; '.join(reasons)})" if reasons else text

