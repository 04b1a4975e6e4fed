"""API-key authentication: every /api/v1 request names its organization with X-API-Key."""

from __future__ import annotations

from flask import g, request

from hcl_server.api.errors import ApiError
from hcl_server.services.orgs import KeyRef, key_for

_LOOKED_UP = "hcl.api_key"


def current_key() -> KeyRef | None:
    """The request's unrevoked API key (X-API-Key) as a KeyRef, or None; looked up once per
    request (the rate limiter and the authentication share it) and kept in the request's own
    environ, not in ``g``, which a test's app context can carry from one request to the next."""
    if _LOOKED_UP not in request.environ:
        request.environ[_LOOKED_UP] = key_for(request.headers.get("X-API-Key"))
    return request.environ[_LOOKED_UP]


def require_api_key() -> None:
    """before_request hook: resolve the key's organization into ``g.org_id`` (and the key's id
    into ``g.api_key_id``) or answer 401."""
    found = current_key()
    if found is None:
        raise ApiError(401, "missing or unknown API key: send it in the X-API-Key header")
    g.org_id, g.api_key_id = found.organization_id, found.id
