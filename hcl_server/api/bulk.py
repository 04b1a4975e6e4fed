"""/api/v1/bulk-jobs: score a whole event log in the background; page, filter and download results."""

from __future__ import annotations

from flask import g, send_file, url_for

from hcl_server.api.auth import require_api_key
from hcl_server.api.drift_schemas import DriftReportOut
from hcl_server.api.multipart import Blueprint
from hcl_server.api.schemas import (
    FILE,
    LOCATION,
    XLSX,
    Accepted,
    BulkForm,
    BulkJobOut,
    BulkList,
    DownloadArgs,
    PageArgs,
    PredictionArgs,
    PredictionPage,
)
from hcl_server.services import bulk, bulk_drift
from hcl_server.services.predictions import prediction_page

MEDIA_TYPES = {"csv": "text/csv", "xlsx": XLSX}
DOWNLOAD = "the predictions file: text/csv for format=csv, an Excel workbook for format=xlsx"

blp = Blueprint("bulk", __name__, url_prefix="/api/v1/bulk-jobs", description="Bulk scoring")
blp.before_request(require_api_key)


@blp.route("", methods=["POST"])
@blp.arguments(BulkForm, location="multipart")
@blp.response(202, Accepted, headers=LOCATION)
@blp.errors(400, 409, 413, 415, 429)
def start(form):
    """Upload an event log to score every customer with the production model, read with the
    reading options given (each left out is decided from the file)."""
    as_of = form.pop("as_of", None)
    file, name = form.pop("file"), form.pop("name", None)
    job = bulk.create_bulk_job(g.org_id, file, name, as_of.isoformat() if as_of else None, form)
    return job, 202, {"Location": url_for("bulk.get_one", job_id=job.id)}


@blp.route("", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, BulkList)
def list_all(args):
    """The organization's bulk jobs, newest first, paginated."""
    rows, total = bulk.list_bulk_jobs(g.org_id, args["limit"], args["offset"])
    return {"bulk_jobs": rows, "total": total, **args}


@blp.route("/<job_id>", methods=["GET"])
@blp.response(200, BulkJobOut)
@blp.errors(404)
def get_one(job_id: str):
    """Status, stage, progress, total customers, summary, error and warnings."""
    return bulk.get_bulk_job(g.org_id, job_id)


@blp.route("/<job_id>/drift", methods=["GET"])
@blp.response(200, DriftReportOut)
@blp.errors(404, 409)
def drift(job_id: str):
    """How far the job's customers moved from the model's training data: the population
    stability index of each feature and of the churn and spend predictions, the share of spend
    and events on categories unseen in training, and the alerts above the organization's drift
    thresholds (GET /api/v1/settings/drift-thresholds).

    The report is written by its own task after the job succeeds: while the job is queued or
    running, or until that task has run, the answer is 200 with status ``pending`` and null
    figures (poll again). 404: no such bulk job in this organization, or a job scored before
    drift reports were kept. 409: the job failed or was cancelled (no report will come).
    """
    return bulk_drift.get_report(g.org_id, job_id)


@blp.route("/<job_id>/predictions", methods=["GET"])
@blp.arguments(PredictionArgs, location="query")
@blp.response(200, PredictionPage)
@blp.errors(404)
def predictions(args, job_id: str):
    """Stored predictions of a finished job, filtered by segment and sorted by risk or value."""
    rows, total = prediction_page(
        g.org_id, job_id, args.get("risk_segment"), args["sort"], args["limit"], args["offset"]
    )
    return {"predictions": rows, "total": total, "limit": args["limit"], "offset": args["offset"]}


@blp.route("/<job_id>/download", methods=["GET"])
@blp.arguments(DownloadArgs, location="query")
@blp.response(200, FILE, content_type="text/csv", description=DOWNLOAD)
@blp.alt_response(200, schema=FILE, content_type=XLSX, description=DOWNLOAD, success=True)
@blp.errors(404, 409, 500)
def download(args, job_id: str):
    """The predictions file, CSV or Excel, with the columns of the CLI's predictions file."""
    handle = bulk.download(g.org_id, job_id, args["format"])
    name = f"predictions-{job_id}.{args['format']}"
    return send_file(
        handle, mimetype=MEDIA_TYPES[args["format"]], as_attachment=True, download_name=name, etag=False
    )


@blp.route("/<job_id>/cancel", methods=["POST"])
@blp.response(200, BulkJobOut)
@blp.errors(404, 409)
def cancel(job_id: str):
    """Cancel a queued or running job."""
    return bulk.cancel_bulk_job(g.org_id, job_id)
