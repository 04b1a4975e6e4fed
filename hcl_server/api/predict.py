"""/api/v1/predict: score customers sent inline with their transactions."""

from __future__ import annotations

from flask import g

from hcl_server.api.auth import require_api_key
from hcl_server.api.errors import ApiError
from hcl_server.api.multipart import Blueprint
from hcl_server.api.schemas import BatchOut, BatchRequest, CustomerRequest, PredictionOut
from hcl_server.services.scoring import predict_inline

blp = Blueprint("predict", __name__, url_prefix="/api/v1/predict", description="Inline predictions")
blp.before_request(require_api_key)


@blp.route("", methods=["POST"])
@blp.arguments(CustomerRequest)
@blp.response(200, PredictionOut)
@blp.errors(400, 409, 413)
def predict_one(body):
    """Churn probability, risk segment and spend per target for one customer."""
    return predict_inline(g.org_id, [body])[0]


@blp.route("/batch", methods=["POST"])
@blp.arguments(BatchRequest)
@blp.response(200, BatchOut)
@blp.errors(400, 409, 413)
def predict_batch(body):
    """The same for up to 5,000 customers at once."""
    ids = [c["customer_id"] for c in body["customers"]]
    if len(set(ids)) != len(ids):
        raise ApiError(422, "customer_id values must be unique within a batch")
    return {"predictions": predict_inline(g.org_id, body["customers"])}
