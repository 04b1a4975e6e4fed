"""/api/v1/training-jobs and /api/v1/models."""

from __future__ import annotations

from flask import g, url_for

from hcl_server.api.auth import require_api_key
from hcl_server.api.multipart import Blueprint
from hcl_server.api.registry_schemas import ReasonIn
from hcl_server.api.schemas import (
    LOCATION,
    Accepted,
    JobOut,
    ModelDetailOut,
    ModelList,
    ModelOut,
    PageArgs,
    TrainingList,
    TrainingRequest,
)
from hcl_server.services import registry, training

jobs = Blueprint("training", __name__, url_prefix="/api/v1/training-jobs", description="Training jobs")
jobs.before_request(require_api_key)
models = Blueprint("models", __name__, url_prefix="/api/v1/models", description="Model versions")
models.before_request(require_api_key)


@jobs.route("", methods=["POST"])
@jobs.arguments(TrainingRequest)
@jobs.response(202, Accepted, headers=LOCATION)
@jobs.errors(400, 404, 409, 413, 429)
def start(body):
    """Train a model version on a dataset; poll the Location for status and metrics."""
    if body.get("as_of") is not None:
        body["as_of"] = body["as_of"].isoformat()
    job = training.create_training_job(g.org_id, body)
    return job, 202, {"Location": url_for("training.get_job", job_id=job.id)}


@jobs.route("", methods=["GET"])
@jobs.arguments(PageArgs, location="query")
@jobs.response(200, TrainingList)
def list_jobs(args):
    """The organization's training jobs, newest first, paginated (``total`` counts them all)."""
    rows, total = training.list_training_jobs(g.org_id, args["limit"], args["offset"])
    return {"training_jobs": rows, "total": total, **args}


@jobs.route("/<job_id>", methods=["GET"])
@jobs.response(200, JobOut)
@jobs.errors(404)
def get_job(job_id: str):
    """Status, stage, progress, per-target metrics (model vs baseline), model version, error."""
    return training.get_training_job(g.org_id, job_id)


@jobs.route("/<job_id>/cancel", methods=["POST"])
@jobs.response(200, JobOut)
@jobs.errors(404, 409)
def cancel_job(job_id: str):
    """Cancel a queued or running training job: it stops at its next progress report and
    registers no model version."""
    return training.cancel_training_job(g.org_id, job_id)


@models.route("", methods=["GET"])
@models.response(200, ModelList)
def list_models():
    """The organization's model versions, newest first."""
    return {"models": training.list_models(g.org_id)}


@models.route("/<int:version>", methods=["GET"])
@models.response(200, ModelDetailOut)
@models.errors(404)
def get_model(version: int):
    """One version: metrics, features, categories, horizons, training data."""
    return training.get_model(g.org_id, version)


@models.route("/<int:version>/promote", methods=["POST"])
@models.arguments(ReasonIn, required=False)
@models.response(200, ModelOut)
@models.errors(400, 404, 409)
def promote_model(body, version: int):
    """Make this version the production model (moves the ``production`` alias; logged)."""
    return registry.promote(g.org_id, version, g.api_key_id, body["reason"])
