"""ARM list operations read as the JSON ARM sends, page by page, following `nextLink`.

The SDK's own list calls turn every item into a typed model, every field of it: at 2,000 Flexible
nodes that is most of an in-sync pass's CPU, for the few fields we read. The request goes through
the SDK client's own pipeline, so credential, retries (429s and their
Retry-After included), the client-side buckets, `-v` logging and the metrics hook are those of
every other call; errors raise what the SDK's list would (`map_error`, ARM's error format).
"""

from __future__ import annotations

from typing import Any, Iterator
from urllib.parse import quote

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ResourceNotModifiedError,
    map_error,
)
from azure.core.pipeline.policies import ContentDecodePolicy
from azure.core.rest import HttpRequest
from azure.mgmt.core.exceptions import ARMErrorFormat

# The error statuses every generated list operation maps, so callers catch the same exceptions.
_ERRORS = {
    401: ClientAuthenticationError,
    404: ResourceNotFoundError,
    409: ResourceExistsError,
    304: ResourceNotModifiedError,
}
_ACCEPT = {"Accept": "application/json"}


def group_path(client, group: str) -> str:
    """A resource group of the client's subscription, as the SDK's URL templates spell it."""
    return f"/subscriptions/{client._config.subscription_id}/resourceGroups/{quote(group, safe='')}"


def _url(client, path: str) -> str:
    """The generated clients keep the endpoint as a template, "{endpoint}" (compute, loganalytics),
    or as the URL itself (monitor); an absolute URL (a nextLink) is kept as it is."""
    return client._client.format_url(path, endpoint=getattr(client._config, "base_url", ""))


def list_items(client, path: str, api_version: str, query: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
    """Each item (ARM's JSON) of the list at `path`. A `nextLink` carries its own query
    (api-version, skip token, filter), and is followed as it is, as the SDK does."""
    request: HttpRequest | None = HttpRequest(
        "GET", _url(client, path), params={"api-version": api_version, **(query or {})}, headers=_ACCEPT
    )
    while request is not None:
        answer = client._client._pipeline.run(request, stream=False)  # as the generated list calls do
        response = answer.http_response
        if response.status_code != 200:
            map_error(status_code=response.status_code, response=response, error_map=_ERRORS)
            raise HttpResponseError(response=response, error_format=ARMErrorFormat)
        page = answer.context.get(ContentDecodePolicy.CONTEXT_NAME) or {}  # the pipeline parsed it already
        yield from page.get("value") or ()
        next_link = page.get("nextLink")
        request = HttpRequest("GET", _url(client, next_link), headers=_ACCEPT) if next_link else None
