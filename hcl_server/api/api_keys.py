"""/api/v1/api-keys: an organization lists, creates, revokes and rotates its own API keys."""

from __future__ import annotations

from flask import g, url_for

from hcl_server.api.auth import require_api_key
from hcl_server.api.multipart import Blueprint
from hcl_server.api.schemas import ApiKeyIssued, ApiKeyList, ApiKeyOut, ApiKeyRotated
from hcl_server.db import ApiKey
from hcl_server.services import orgs

blp = Blueprint("api_keys", __name__, url_prefix="/api/v1/api-keys", description="API keys")
blp.before_request(require_api_key)


def _shown(row: ApiKey) -> dict:
    return {**orgs.key_summary(row), "current": row.id == g.api_key_id}


@blp.route("", methods=["GET"])
@blp.response(200, ApiKeyList)
def list_keys():
    """The organization's API keys, revoked ones too, newest first (id, prefix, dates, whether
    active and whether it is the key of this request); never the keys themselves."""
    return {"api_keys": [_shown(row) for row in orgs.list_api_keys(g.org_id)]}


@blp.route("", methods=["POST"])
@blp.response(201, ApiKeyIssued)
@blp.errors(409)
def create_key():
    """A new API key for the organization; the key is in this answer only (it is stored hashed).
    409 when the organization already has 20 active keys."""
    issued = orgs.create_api_key(g.org_id)
    return {**_shown(issued.row), "api_key": issued.api_key}, 201, {"Location": url_for("api_keys.list_keys")}


@blp.route("/<key_id>/revoke", methods=["POST"])
@blp.response(200, ApiKeyOut)
@blp.errors(404, 409)
def revoke_key(key_id: str):
    """Revoke a key: every request with it answers 401 from now on. 409 for a key already
    revoked, and for the organization's last active key (create or rotate one instead)."""
    return _shown(orgs.revoke_api_key(g.org_id, key_id))


@blp.route("/<key_id>/rotate", methods=["POST"])
@blp.response(201, ApiKeyRotated)
@blp.errors(404, 409)
def rotate_key(key_id: str):
    """Replace a key: a new key is created (in this answer only) and this one is revoked at once,
    so a client rotating the key it uses sends the new one from its next request. 409 for a key
    already revoked."""
    issued = orgs.rotate_api_key(g.org_id, key_id)
    body = {**_shown(issued.row), "api_key": issued.api_key, "replaces": _shown(issued.replaces)}
    return body, 201, {"Location": url_for("api_keys.list_keys")}
