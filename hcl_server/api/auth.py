"""API-key authentication: every /api/v1 request names its organization with X-API-Key."""

from __future__ import annotations

from flask import g, request

from hcl_server.api.errors import ApiError
from hcl_server.services.orgs import organization_for_key


def require_api_key() -> None:
    """before_request hook: resolve the key's organization into ``g.org_id`` or answer 401."""
    org_id = organization_for_key(request.headers.get("X-API-Key"))
    if org_id is None:
        raise ApiError(401, "missing or unknown API key: send it in the X-API-Key header")
    g.org_id = org_id
