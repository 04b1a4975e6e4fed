"""Realized accuracy of stored predictions: /api/v1/models/{version}/outcomes and
/api/v1/bulk-jobs/{job_id}/outcomes; /api/v1/settings/auto-promotion."""

from __future__ import annotations

from flask import g

from hcl_server.api.auth import require_api_key
from hcl_server.api.multipart import Blueprint
from hcl_server.api.outcome_schemas import AutoPromotionIn, AutoPromotionOut, JobOutcomes, ModelOutcomes
from hcl_server.services import champion, outcomes

blp = Blueprint(
    "outcomes",
    __name__,
    url_prefix="/api/v1",
    description="Realized accuracy of stored predictions, and the automatic promotion of the candidate",
)
blp.before_request(require_api_key)


@blp.route("/models/<int:version>/outcomes", methods=["GET"])
@blp.response(200, ModelOutcomes)
@blp.errors(404)
def model_outcomes(version: int):
    """Was the model right? The version's bulk-job predictions scored against what the customers
    then did, next to its validation metrics. An outcome appears once a newer log (a dataset
    upload, or a later bulk job's file) covers the label window after a job's as-of date: events
    from that date or earlier through the date plus the longer horizon, less a day; a log that
    reaches into the window without covering it leaves a warning on the dataset or job instead."""
    return outcomes.version_outcomes(g.org_id, version)


@blp.route("/bulk-jobs/<job_id>/outcomes", methods=["GET"])
@blp.response(200, JobOutcomes)
@blp.errors(404)
def job_outcomes(job_id: str):
    """A bulk job's realized outcomes: its production predictions and every version scored on it
    in shadow, each with its comparison against production and the promotion decision."""
    return outcomes.job_outcomes(g.org_id, job_id)


@blp.route("/settings/auto-promotion", methods=["GET"])
@blp.response(200, AutoPromotionOut)
def get_auto_promotion():
    """Automatic promotion of the candidate (off unless turned on): the candidate becomes
    production when, on the same customers, its realized log loss beats production's by at least
    ``margin``, its Brier score is not higher, and at least ``min_customers`` were compared."""
    return champion.get_auto_promotion(g.org_id)


@blp.route("/settings/auto-promotion", methods=["PUT"])
@blp.arguments(AutoPromotionIn)
@blp.response(200, AutoPromotionOut)
@blp.errors(400, 413)
def put_auto_promotion(body):
    """Set automatic promotion; fields left out keep their value. Each decision is kept in the
    shadow outcome's ``comparison.decision``; a promotion is logged in /api/v1/models/history
    with actor ``rule:auto-promotion``."""
    return champion.set_auto_promotion(g.org_id, body)
