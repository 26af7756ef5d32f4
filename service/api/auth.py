"""API keys as FastAPI dependencies, so OpenAPI shows them (security schemes).

A key comes in ``X-API-Key: KEY`` or ``Authorization: Bearer KEY`` (RFC 6750: the scheme
is case-insensitive; a bare key without a scheme is not accepted). ``/admin/*`` takes
DCGAN_ADMIN_API_KEY when it is set (the generation key is then refused there), else
DCGAN_API_KEY. With no key configured, the routes are open.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from service.api.deps import SettingsDep
from service.api.errors import ApiError

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKey")
bearer = HTTPBearer(auto_error=False, scheme_name="Bearer")
ApiKeyDep = Annotated[str | None, Security(api_key_header)]
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]


def key_problem(
    expected: str | None, header_key: str | None, authorization: str | None
) -> ApiError | None:
    """401 unless the request carries ``expected`` (None: no key needed), compared in constant
    time. ``authorization`` is read as HTTPBearer reads it: ``Bearer`` in any case, a space,
    the key; any other scheme counts as no key."""
    if expected is None:
        return None
    scheme, _, token = (authorization or "").partition(" ")
    bearer = token.strip() if scheme.lower() == "bearer" else ""
    given = header_key or bearer
    if given and hmac.compare_digest(given.encode(), expected.encode()):
        return None
    return ApiError(
        401,
        "unauthorized",
        "missing or wrong API key (X-API-Key: KEY or Authorization: Bearer KEY)",
        headers={"WWW-Authenticate": "Bearer"},
    )


def _check(
    expected: str | None, header_key: str | None, token: HTTPAuthorizationCredentials | None
) -> None:
    authorization = f"Bearer {token.credentials}" if token is not None else None
    problem = key_problem(expected, header_key, authorization)
    if problem is not None:
        raise problem


async def require_api_key(settings: SettingsDep, key: ApiKeyDep, token: BearerDep) -> None:
    _check(settings.api_key, key, token)


async def require_admin_key(settings: SettingsDep, key: ApiKeyDep, token: BearerDep) -> None:
    _check(settings.admin_api_key or settings.api_key, key, token)


API_KEY = [Depends(require_api_key)]
ADMIN_KEY = [Depends(require_admin_key)]
