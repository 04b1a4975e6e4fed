"""/api/v1/models/aliases, /rollback and /history: the organization's model aliases and their log."""

from __future__ import annotations

from flask import g

from hcl_server.api.auth import require_api_key
from hcl_server.api.multipart import Blueprint
from hcl_server.api.registry_schemas import AliasIn, AliasList, AliasOut, History, HistoryArgs, ReasonIn
from hcl_server.api.schemas import ModelOut
from hcl_server.services import registry

blp = Blueprint(
    "model_aliases",
    __name__,
    url_prefix="/api/v1/models",
    description="Model aliases (production, candidate, ...) and their append-only log",
)
blp.before_request(require_api_key)


@blp.route("/aliases", methods=["GET"])
@blp.response(200, AliasList)
def list_aliases():
    """The organization's aliases and the version each names, by name."""
    return {"aliases": registry.list_aliases(g.org_id)}


@blp.route("/aliases/<alias>", methods=["PUT"])
@blp.arguments(AliasIn)
@blp.response(200, AliasOut)
@blp.errors(400, 404, 409)
def put_alias(body, alias: str):
    """Point an alias (lowercase letters, digits, '-' and '_', at most 40 characters; 422
    otherwise) at a version; logged. ``production`` is the version /api/v1/predict and bulk jobs use;
    ``candidate``, while it names another version, is scored in shadow by each bulk job submitted."""
    return registry.put_alias(g.org_id, alias, body["version"], g.api_key_id, body["reason"])


@blp.route("/aliases/<alias>", methods=["DELETE"])
@blp.arguments(ReasonIn, location="query")
@blp.response(204)
@blp.errors(404)
def delete_alias(args, alias: str):
    """Remove an alias (logged with to_version null). Without ``production`` the organization has
    no production model: predictions answer 409 until one is promoted."""
    registry.remove_alias(g.org_id, alias, g.api_key_id, args["reason"])
    return "", 204


@blp.route("/rollback", methods=["POST"])
@blp.arguments(ReasonIn, required=False)
@blp.response(200, ModelOut)
@blp.errors(400, 404, 409)
def rollback(body):
    """Point ``production`` back at the version it named before its latest change (read from the
    log); 409 when it named none. A second rollback undoes the first."""
    return registry.rollback(g.org_id, g.api_key_id, body["reason"])


@blp.route("/history", methods=["GET"])
@blp.arguments(HistoryArgs, location="query")
@blp.response(200, History)
def history(args):
    """The alias log, newest first, paginated (``total`` counts the rows), optionally of one alias."""
    rows, total = registry.history(g.org_id, args["alias"], args["limit"], args["offset"])
    return {"events": rows, "total": total, "limit": args["limit"], "offset": args["offset"]}
