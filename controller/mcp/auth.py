"""Bearer tokens for the HTTP transport: Entra ID access tokens, checked here.

A token is accepted only with a valid RS256 signature by a key of the tenant's JWKS (the keys
are fetched from ``jwks_url`` and fetched again when a token names a key not seen yet, at most
once a minute), an ``iss`` among the tenant's issuers (v2.0 tokens
``https://login.microsoftonline.com/<tenant>/v2.0``, v1.0 tokens ``https://sts.windows.net/<tenant>/``:
which one an app registration gets is its ``requestedAccessTokenVersion``; learn.microsoft.com
entra/identity-platform/access-tokens), an ``aud`` equal to the configured audience, and an
``exp`` in the future (``nbf`` too, when present)."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from typing import Any, Callable

import anyio
import jwt
from mcp.server.auth.provider import AccessToken

log = logging.getLogger("slurm-log-controller")
LEEWAY_SECONDS = 60  # clock skew between Entra ID and this host
REFETCH_AFTER = 60.0
#: returns the JWKS document ({"keys": [...]})
FetchKeys = Callable[[], dict[str, Any]]


def fetch_jwks(url: str, timeout: float = 10.0) -> FetchKeys:
    def fetch() -> dict[str, Any]:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 (an https URL from settings)
            return json.load(answer)

    return fetch


def entra_issuers(authority: str, tenant: str, public_cloud: bool) -> tuple[str, ...]:
    v2 = f"https://{authority}/{tenant}/v2.0"
    return (v2, f"https://sts.windows.net/{tenant}/") if public_cloud else (v2,)


class EntraTokenVerifier:
    """The SDK's ``TokenVerifier``: an :class:`AccessToken` for a good token, None otherwise."""

    def __init__(self, fetch_keys: FetchKeys, issuers: tuple[str, ...], audience: str, required_scope: str = ""):
        self.fetch_keys = fetch_keys
        self.issuers = issuers
        self.audience = audience
        self.required_scope = required_scope
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    async def verify_token(self, token: str) -> AccessToken | None:
        return await anyio.to_thread.run_sync(self.verify, token)

    def verify(self, token: str) -> AccessToken | None:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._key(kid)
            if key is None:
                log.info("bearer token refused: its key %r is not in the tenant's JWKS", kid)
                return None
            claims = jwt.decode(token, key=key, algorithms=["RS256"], audience=self.audience, issuer=list(self.issuers),
                                leeway=LEEWAY_SECONDS, options={"require": ["exp", "iss", "aud"]})
        except (jwt.PyJWTError, OSError, ValueError) as exc:
            log.info("bearer token refused: %s", exc)
            return None
        scopes = str(claims.get("scp", "")).split() + list(claims.get("roles") or [])
        if self.required_scope and self.required_scope not in scopes:
            log.info("bearer token refused: it lacks the scope or role %s", self.required_scope)
            return None
        return AccessToken(token=token, client_id=str(claims.get("azp") or claims.get("appid") or ""), scopes=scopes,
                           expires_at=int(claims["exp"]), resource=self.audience, subject=claims.get("sub"),
                           claims={"iss": claims["iss"], "tid": claims.get("tid"), "oid": claims.get("oid")})

    def _key(self, kid: str | None) -> jwt.PyJWK | None:
        with self._lock:
            if kid not in self._keys and time.monotonic() - self._fetched_at > REFETCH_AFTER:
                self._fetched_at = time.monotonic()
                self._keys = {k["kid"]: jwt.PyJWK(k) for k in self.fetch_keys().get("keys", []) if k.get("kid")}
            return self._keys.get(kid)
