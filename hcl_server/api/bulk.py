"""/api/v1/bulk-jobs: score a whole event log in the background; page, filter and download results."""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import g, send_file, url_for
from flask_smorest import Blueprint
from sqlalchemy import func

from hcl_server.api.auth import require_api_key
from hcl_server.api.errors import ApiError
from hcl_server.api.schemas import (
    Accepted,
    BulkForm,
    BulkJobOut,
    BulkList,
    DatasetUpload,
    DownloadArgs,
    PageArgs,
    PredictionArgs,
    PredictionPage,
)
from hcl_server.db import Job, Prediction
from hcl_server.extensions import db
from hcl_server.repositories import scoped
from hcl_server.services.bulk import cancel_bulk_job, create_bulk_job, get_bulk_job
from hcl_server.storage import storage

blp = Blueprint("bulk", __name__, url_prefix="/api/v1/bulk-jobs", description="Bulk scoring")
blp.before_request(require_api_key)


@blp.route("", methods=["POST"])
@blp.arguments(DatasetUpload, location="files")
@blp.arguments(BulkForm, location="form")
@blp.response(202, Accepted)
def start(files, form):
    """Upload a CSV or Excel event log to score every customer with the production model."""
    as_of = form["as_of"].isoformat() if form.get("as_of") else None
    job = create_bulk_job(g.org_id, files.get("file"), form.get("name"), as_of)
    return job, 202, {"Location": url_for("bulk.get_one", job_id=job.id)}


@blp.route("", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, BulkList)
def list_all(args):
    """The organization's bulk jobs, newest first, paginated."""
    query = scoped(Job, g.org_id).where(Job.kind == "bulk")
    total = db.session.scalar(db.select(func.count()).select_from(query.subquery()))
    rows = db.session.scalars(
        query.order_by(Job.created_at.desc()).limit(args["limit"]).offset(args["offset"])
    )
    return {"bulk_jobs": rows.all(), "total": total, **args}


@blp.route("/<job_id>", methods=["GET"])
@blp.response(200, BulkJobOut)
def get_one(job_id: str):
    """Status, stage, progress, total customers, summary, error and warnings."""
    return get_bulk_job(g.org_id, job_id)


@blp.route("/<job_id>/predictions", methods=["GET"])
@blp.arguments(PredictionArgs, location="query")
@blp.response(200, PredictionPage)
def predictions(args, job_id: str):
    """Stored predictions of a finished job, filtered by segment and sorted by risk or value."""
    job = get_bulk_job(g.org_id, job_id)
    query = scoped(Prediction, g.org_id).where(Prediction.job_id == job.id)
    if args.get("risk_segment"):
        query = query.where(Prediction.risk_segment == args["risk_segment"])
    total = db.session.scalar(db.select(func.count()).select_from(query.subquery()))
    column = getattr(Prediction, args["sort"].lstrip("-"))
    order = column.desc() if args["sort"].startswith("-") else column.asc()
    rows = db.session.scalars(
        query.order_by(order, Prediction.id).limit(args["limit"]).offset(args["offset"])
    )
    return {"predictions": rows.all(), "total": total, "limit": args["limit"], "offset": args["offset"]}


@blp.route("/<job_id>/download", methods=["GET"])
@blp.arguments(DownloadArgs, location="query")
@blp.response(200)
def download(args, job_id: str):
    """The predictions file, CSV or Excel, with the columns of the CLI's predictions file."""
    job = get_bulk_job(g.org_id, job_id)
    if job.status != "succeeded":
        raise ApiError(409, f"bulk job {job.id} is {job.status}; results are ready when it has succeeded")
    key = (job.result or {}).get("files", {}).get(args["format"])
    if key is None:
        state = (job.result or {}).get("xlsx")
        if state == "pending":
            raise ApiError(
                409, "the Excel file is still being prepared; retry shortly, or download format=csv"
            )
        if state == "too_many_rows":
            raise ApiError(422, "too many rows for an Excel sheet; download format=csv")
        raise ApiError(500, "the Excel file could not be written; download format=csv")
    tmp = Path(tempfile.mkdtemp(prefix="hcl-download-"))
    path = tmp / f"predictions.{args['format']}"
    storage().get_file(key, path)
    name = f"predictions-{job.id}.{args['format']}"
    return send_file(path, as_attachment=True, download_name=name)


@blp.route("/<job_id>/cancel", methods=["POST"])
@blp.response(200, BulkJobOut)
def cancel(job_id: str):
    """Cancel a queued or running job."""
    return cancel_bulk_job(g.org_id, job_id)
