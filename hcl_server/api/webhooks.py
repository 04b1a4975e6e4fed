"""/api/v1/webhooks: URLs told of every job that ends, and their deliveries."""

from __future__ import annotations

from flask import g, url_for

from hcl_server.api.auth import require_api_key
from hcl_server.api.multipart import Blueprint
from hcl_server.api.schemas import PageArgs
from hcl_server.api.webhook_schemas import DeliveryPage, WebhookCreated, WebhookIn, WebhookList, WebhookOut
from hcl_server.services import webhooks

blp = Blueprint(
    "webhooks",
    __name__,
    url_prefix="/api/v1/webhooks",
    description="Webhooks: a signed JSON event to each URL whenever a dataset, training job or bulk job ends",
)
blp.before_request(require_api_key)


@blp.route("", methods=["POST"])
@blp.arguments(WebhookIn)
@blp.response(201, WebhookCreated)
@blp.errors(400, 409, 413)
def create(body):
    """Register a URL; every dataset, training job and bulk job that ends sends it an event signed
    with the secret (X-HCL-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">). The secret is
    in this response only."""
    hook, _ = webhooks.create_webhook(g.org_id, body["url"], body.get("secret"))
    return hook, 201, {"Location": url_for("webhooks.get_one", webhook_id=hook.id)}


@blp.route("", methods=["GET"])
@blp.response(200, WebhookList)
def list_all():
    """The organization's webhooks (their secrets by prefix only)."""
    return {"webhooks": webhooks.list_webhooks(g.org_id)}


@blp.route("/<webhook_id>", methods=["GET"])
@blp.response(200, WebhookOut)
@blp.errors(404)
def get_one(webhook_id: str):
    """One webhook (its secret by prefix only)."""
    return webhooks.get_webhook(g.org_id, webhook_id)


@blp.route("/<webhook_id>", methods=["DELETE"])
@blp.response(204)
@blp.errors(404)
def delete(webhook_id: str):
    """Delete a webhook and its deliveries; no attempt is made after."""
    webhooks.delete_webhook(g.org_id, webhook_id)
    return "", 204


@blp.route("/<webhook_id>/deliveries", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, DeliveryPage)
@blp.errors(404)
def deliveries(args, webhook_id: str):
    """The webhook's deliveries, newest first: event, status (pending, delivered, failed), attempts
    with each one's status code or error and duration, and when the next is due."""
    rows, total = webhooks.list_deliveries(g.org_id, webhook_id, args["limit"], args["offset"])
    return {"deliveries": rows, "total": total, "limit": args["limit"], "offset": args["offset"]}
