"""/api/v1/settings: the organization's settings (its risk thresholds)."""

from __future__ import annotations

from flask import g

from hcl_server.api.auth import require_api_key
from hcl_server.api.multipart import Blueprint
from hcl_server.api.schemas import RiskThresholds, RiskThresholdsOut
from hcl_server.services import settings

blp = Blueprint("settings", __name__, url_prefix="/api/v1/settings", description="Organization settings")
blp.before_request(require_api_key)


@blp.route("/risk-thresholds", methods=["GET"])
@blp.response(200, RiskThresholdsOut)
def get_risk_thresholds():
    """The churn probabilities where the Medium, High and Critical segments start, and whether
    they are the organization's own or the production model's (``source``)."""
    return settings.get_risk_thresholds(g.org_id)


@blp.route("/risk-thresholds", methods=["PUT"])
@blp.arguments(RiskThresholds)
@blp.response(200, RiskThresholdsOut)
@blp.errors(400, 413)
def put_risk_thresholds(body):
    """Set the organization's own thresholds, each from 0 to 1 and strictly ordered
    (medium < high < critical); /predict and bulk jobs segment with them from the next scoring."""
    return settings.set_risk_thresholds(g.org_id, body)


@blp.route("/risk-thresholds", methods=["DELETE"])
@blp.response(200, RiskThresholdsOut)
def delete_risk_thresholds():
    """Forget the organization's own thresholds: the production model's apply again."""
    return settings.reset_risk_thresholds(g.org_id)
