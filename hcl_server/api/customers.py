"""/api/v1/customers: a customer's latest stored prediction."""

from __future__ import annotations

from flask import g

from hcl_server.api.auth import require_api_key
from hcl_server.api.multipart import Blueprint
from hcl_server.api.schemas import StoredPrediction
from hcl_server.services.predictions import latest_prediction

blp = Blueprint("customers", __name__, url_prefix="/api/v1/customers", description="Stored predictions")
blp.before_request(require_api_key)


@blp.route("/<customer_id>/prediction", methods=["GET"])
@blp.response(200, StoredPrediction)
@blp.errors(404)
def latest(customer_id: str):
    """The customer's prediction from the most recent finished bulk job that scored them."""
    return latest_prediction(g.org_id, customer_id)
