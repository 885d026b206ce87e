"""The request and response values passed between the server, the router, hooks and handlers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SimRequest:
    """What hooks receive: one HTTP request, already routed."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    operation: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class SimResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    #: the JSON-encoded body, filled while the state lock is held (stored dicts may change later)
    payload: bytes | None = None
    #: no answer at all: the server resets the connection (a proxy or load balancer dropping it)
    reset: bool = False

    def encode(self) -> bytes:
        if self.payload is None:
            self.payload = b"" if self.body is None else json.dumps(self.body, separators=(",", ":")).encode()
        return self.payload


@dataclass
class _Ctx:
    """What a handler receives: the request as routed, the body parsed."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    base_url: str
    params: dict[str, str]
