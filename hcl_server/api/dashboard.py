"""/api/v1/dashboard: one answer for a monitoring dashboard."""

from __future__ import annotations

from flask import g

from hcl_server.api.auth import require_api_key
from hcl_server.api.dashboard_schemas import DashboardSummaryOut
from hcl_server.api.multipart import Blueprint
from hcl_server.services import dashboard

blp = Blueprint(
    "dashboard", __name__, url_prefix="/api/v1/dashboard", description="What a monitoring dashboard shows"
)
blp.before_request(require_api_key)


@blp.route("/summary", methods=["GET"])
@blp.response(200, DashboardSummaryOut)
def get_summary():
    """The production and candidate models with their validation and realized metrics, the latest
    bulk jobs (risk distribution, average churn, predicted spend: a trend, oldest first), the open
    drift alerts, and whether retraining is recommended and why (drift, realized degradation, new
    data since training, model age)."""
    return dashboard.summary(g.org_id)
