"""/api/v1/training-jobs and /api/v1/models."""

from __future__ import annotations

from flask import g, url_for
from flask_smorest import Blueprint

from hcl_server.api.auth import require_api_key
from hcl_server.api.errors import ApiError
from hcl_server.api.schemas import Accepted, JobOut, ModelDetailOut, ModelList, ModelOut, TrainingRequest
from hcl_server.db import Job, ModelVersion
from hcl_server.extensions import db
from hcl_server.repositories import get_scoped, scoped
from hcl_server.services.training import create_training_job, promote

jobs = Blueprint("training", __name__, url_prefix="/api/v1/training-jobs", description="Training jobs")
jobs.before_request(require_api_key)
models = Blueprint("models", __name__, url_prefix="/api/v1/models", description="Model versions")
models.before_request(require_api_key)


@jobs.route("", methods=["POST"])
@jobs.arguments(TrainingRequest)
@jobs.response(202, Accepted)
def start(body):
    """Train a model version on a dataset; poll the Location for status and metrics."""
    if body.get("as_of") is not None:
        body["as_of"] = body["as_of"].isoformat()
    job = create_training_job(g.org_id, body)
    return job, 202, {"Location": url_for("training.get_job", job_id=job.id)}


@jobs.route("/<job_id>", methods=["GET"])
@jobs.response(200, JobOut)
def get_job(job_id: str):
    """Status, stage, progress, per-target metrics (model vs baseline), model version, error."""
    job = get_scoped(Job, g.org_id, job_id, "training job")
    if job.kind != "training":
        raise ApiError(404, f"training job {job_id} not found")
    return job


@models.route("", methods=["GET"])
@models.response(200, ModelList)
def list_models():
    """The organization's model versions, newest first."""
    rows = db.session.scalars(scoped(ModelVersion, g.org_id).order_by(ModelVersion.version.desc())).all()
    return {"models": rows}


def _version(version: int) -> ModelVersion:
    mv = db.session.scalar(scoped(ModelVersion, g.org_id).where(ModelVersion.version == version))
    if mv is None:
        raise ApiError(404, f"model version {version} not found")
    return mv


@models.route("/<int:version>", methods=["GET"])
@models.response(200, ModelDetailOut)
def get_model(version: int):
    """One version: metrics, features, categories, horizons, training data."""
    return _version(version)


@models.route("/<int:version>/promote", methods=["POST"])
@models.response(200, ModelOut)
def promote_model(version: int):
    """Make this version the production model."""
    return promote(g.org_id, version)
