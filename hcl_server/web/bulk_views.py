"""Bulk jobs in the web pages: upload a log to score, watch the job, cancel it, download."""

from __future__ import annotations

from flask import g, jsonify, redirect, render_template, request, send_file, url_for

from hcl_server.errors import DomainError, NotFound
from hcl_server.services import bulk
from hcl_server.web import bp
from hcl_server.web.views import signed_in_only

PAGE = 20
MEDIA = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def job_state(job) -> dict:
    """What the job page shows and its script polls: status, stage, progress (0–1), error."""
    result = job.result or {}
    return {
        "id": job.id,
        "status": job.status,
        "stage": job.stage,
        "progress": round(float(job.progress or 0.0), 4),
        "error": job.error,
        "warnings": list(job.warnings or []),
        "total_customers": result.get("total_customers"),
        "xlsx": result.get("xlsx"),
    }


@bp.get("/bulk-jobs")
@signed_in_only
def bulk_jobs(error: str | None = None, status: int = 200):
    """The organization's bulk jobs, newest first, with the form to start one."""
    jobs, total = bulk.list_bulk_jobs(g.org_id, PAGE, 0)
    return render_template("web/bulk_jobs.html", jobs=jobs, total=total, error=error), status


@bp.post("/bulk-jobs")
@signed_in_only
def start_bulk_job():
    """Store the uploaded log and start scoring it with the production model; the page of the
    new job, or the form again with what was wrong and how to get past it."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return bulk_jobs(error="Choose an event log file (CSV, .gz, .xlsx or Parquet).", status=400)
    as_of = request.form.get("as_of") or None
    try:
        job = bulk.create_bulk_job(g.org_id, upload, request.form.get("name") or None, as_of, {})
    except DomainError as exc:
        return bulk_jobs(error=exc.message, status=400)
    return redirect(url_for("web.bulk_job", job_id=job.id))


@bp.get("/bulk-jobs/<job_id>")
@signed_in_only
def bulk_job(job_id: str):
    """One job: its progress bar (kept up to date by static/job.js), error, downloads, cancel."""
    job = bulk.get_bulk_job(g.org_id, job_id)
    return render_template("web/bulk_job.html", job=job, state=job_state(job))


@bp.get("/bulk-jobs/<job_id>/state")
@signed_in_only
def bulk_job_state(job_id: str):
    """The job's state as JSON, for the page's script."""
    return jsonify(job_state(bulk.get_bulk_job(g.org_id, job_id)))


@bp.post("/bulk-jobs/<job_id>/cancel")
@signed_in_only
def cancel(job_id: str):
    try:
        bulk.cancel_bulk_job(g.org_id, job_id)
    except NotFound:
        raise
    except DomainError:
        pass  # finished meanwhile: the page shows how it ended
    return redirect(url_for("web.bulk_job", job_id=job_id))


@bp.get("/bulk-jobs/<job_id>/download.<file_format>")
@signed_in_only
def download(job_id: str, file_format: str):
    """The predictions as CSV or Excel, through the same service as the API's download."""
    if file_format not in MEDIA:
        raise NotFound(f"no {file_format} download")
    name = f"predictions-{job_id}.{file_format}"
    return send_file(
        bulk.download(g.org_id, job_id, file_format),
        mimetype=MEDIA[file_format],
        as_attachment=True,
        download_name=name,
    )
