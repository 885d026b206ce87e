"""The token side: an App Service style managed-identity endpoint, bearer-token checks, and an
in-process ``TokenCredential``.

With ``IDENTITY_ENDPOINT`` / ``IDENTITY_HEADER`` (see :mod:`.server`) ``DefaultAzureCredential``
and ``ManagedIdentityCredential`` get their tokens from ``/msi/token`` here. Tokens are opaque
strings, not JWTs; any scope is accepted.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from .errors import ArmError
from .messages import SimResponse

IDENTITY_PATH = "/msi/token"


class IdentityMixin:
    def _setup(self) -> None:
        super()._setup()
        self._tokens: dict[str, float] = {}
        self.identity_header = secrets.token_hex(16)

    def issue_token(self, lifetime: int = 3600) -> tuple[str, int]:
        token = "sim." + secrets.token_urlsafe(24)
        expires = int(time.time()) + lifetime
        with self._count_lock:
            self._tokens[token] = expires
        return token, expires

    def issued_tokens(self) -> list[str]:
        """Every token handed out so far (a test searches outputs for them)."""
        with self._count_lock:
            return list(self._tokens)

    def credential(self) -> "SimCredential":
        """A TokenCredential that gets its tokens from this simulator (no HTTP)."""
        return SimCredential(self)

    def _identity(self, method: str, query: dict[str, str], hdrs: dict[str, str]) -> SimResponse:
        """App Service style managed identity endpoint (IDENTITY_ENDPOINT / IDENTITY_HEADER)."""
        if hdrs.get("x-identity-header") != self.identity_header:
            return SimResponse(401, {"statusCode": 401, "message": "Unauthorized: X-IDENTITY-HEADER is missing or wrong."})
        resource = query.get("resource")
        if method != "GET" or not resource or query.get("api-version") is None:
            return SimResponse(400, {"statusCode": 400, "message": "resource and api-version are required."})
        token, expires = self.issue_token()
        with self._count_lock:
            self.token_requests += 1
        return SimResponse(200, {
            "access_token": token, "expires_on": str(expires), "resource": resource,
            "token_type": "Bearer", "client_id": "00000000-0000-0000-0000-00000000c11d",
        })

    def _authenticate(self, hdrs: dict[str, str]) -> None:
        auth = hdrs.get("authorization", "")
        challenge = {"WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/{}", '
                                         'error="invalid_token", error_description="The authentication failed."'.format(self.tenant_id)}
        if not auth:
            raise ArmError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.", headers=challenge)
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ArmError(401, "AuthenticationFailed",
                           "Authentication failed. The 'Authorization' header is not in a valid format: expected 'Bearer <token>'.",
                           headers=challenge)
        exp = self._tokens.get(token.strip())
        if exp is None:
            raise ArmError(401, "InvalidAuthenticationToken", "The access token is invalid.", headers=challenge)
        if exp < time.time():
            raise ArmError(401, "ExpiredAuthenticationToken", "The access token expiry UTC time is earlier than current UTC time.",
                           headers=challenge)



class SimCredential:
    """``azure.core.credentials.TokenCredential`` backed by :meth:`IdentityMixin.issue_token`."""

    def __init__(self, sim: IdentityMixin) -> None:
        self._sim = sim

    def get_token(self, *scopes: str, claims: str | None = None, tenant_id: str | None = None, **kwargs: Any):
        from azure.core.credentials import AccessToken

        token, expires = self._sim.issue_token()
        return AccessToken(token, expires)

    def get_token_info(self, *scopes: str, options: Any = None):
        from azure.core.credentials import AccessTokenInfo

        token, expires = self._sim.issue_token()
        return AccessTokenInfo(token, expires)

    def close(self) -> None:
        pass

    def __enter__(self) -> "SimCredential":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass
