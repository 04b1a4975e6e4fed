"""/api/v1/settings: the organization's settings (its risk and drift thresholds, its schedules)."""

from __future__ import annotations

from flask import g

from hcl_server.api.auth import require_api_key
from hcl_server.api.drift_schemas import DriftThresholdsIn, DriftThresholdsOut
from hcl_server.api.multipart import Blueprint
from hcl_server.api.schedule_schemas import SchedulesIn, SchedulesOut
from hcl_server.api.schemas import RiskThresholds, RiskThresholdsOut
from hcl_server.services import schedules, settings

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


@blp.route("/drift-thresholds", methods=["GET"])
@blp.response(200, DriftThresholdsOut)
def get_drift_thresholds():
    """The thresholds a bulk job's drift report alerts above: ``feature_psi`` and
    ``prediction_psi`` (population stability index of a feature or a prediction against the
    model's training data) and ``unseen_share`` (share of spend or events on categories unseen in
    training); ``source`` says whether the organization set them."""
    return settings.get_drift_thresholds(g.org_id)


@blp.route("/drift-thresholds", methods=["PUT"])
@blp.arguments(DriftThresholdsIn)
@blp.response(200, DriftThresholdsOut)
@blp.errors(400, 413)
def put_drift_thresholds(body):
    """Set the organization's own drift thresholds, each above 0 (``unseen_share`` at most 1);
    those left out keep their defaults, and what was set before is replaced. Drift reports
    written from now on (bulk jobs that succeed after this) alert with them."""
    return settings.set_drift_thresholds(g.org_id, body)


@blp.route("/drift-thresholds", methods=["DELETE"])
@blp.response(200, DriftThresholdsOut)
def delete_drift_thresholds():
    """Forget the organization's own drift thresholds: the defaults apply again."""
    return settings.reset_drift_thresholds(g.org_id)


@blp.route("/schedules", methods=["GET"])
@blp.response(200, SchedulesOut)
def get_schedules():
    """The organization's schedules: ``retrain`` (train on the latest dataset that was read) and
    ``rescore`` (score the latest succeeded bulk job's file again with the production model), each
    with its next fire time and how its last run went, or null when not set."""
    return schedules.get_schedules(g.org_id)


@blp.route("/schedules", methods=["PUT"])
@blp.arguments(SchedulesIn)
@blp.response(200, SchedulesOut)
@blp.errors(400, 409, 413)
def put_schedules(body):
    """Set schedules as cron expressions (5 fields) read in an IANA time zone: each kind given
    replaces that schedule, null removes it, a kind left out is left as it is. A new or changed
    schedule first runs at its next fire time; a run missed while the service was down runs once,
    at the next pass, however many fire times were missed. 409: another request changed the
    schedules at the same moment."""
    return schedules.set_schedules(g.org_id, body)
