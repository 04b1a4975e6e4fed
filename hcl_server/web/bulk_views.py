"""Bulk jobs in the web pages: upload a log to score, watch the job, cancel it, download."""

from __future__ import annotations

import contextlib
from io import BytesIO

from flask import g, jsonify, redirect, render_template, request, send_file, url_for

from hcl_server.errors import Conflict, DomainError, NotFound
from hcl_server.services import bulk, templates
from hcl_server.services.datasets import NAME_LENGTH
from hcl_server.services.predictions import prediction_page
from hcl_server.web import bp
from hcl_server.web.forms import FormError, iso_date, job_state, reading_options, text_field
from hcl_server.web.views import signed_in_only
from ml_pipeline.errors import EventLogError
from ml_pipeline.serving.scoring import SEGMENTS

PAGE = 20
CUSTOMERS_PAGE = 50
SORTS = {  # what the customers table may be sorted by: label of each
    "-churn_probability": "risk, highest first",
    "churn_probability": "risk, lowest first",
    "-spend_total": "predicted spend, highest first",
    "spend_total": "predicted spend, lowest first",
}
MEDIA = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def bulk_state(job) -> dict:
    """The job page's state (forms.job_state) with the customers scored and the Excel file's state."""
    result = job.result or {}
    return job_state(job, total_customers=result.get("total_customers"), xlsx=result.get("xlsx"))


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
    try:
        name = text_field(request.form, "name", "name", NAME_LENGTH)
        as_of = iso_date(request.form, "as_of", "score as of")
        job = bulk.create_bulk_job(g.org_id, upload, name, as_of, reading_options(request.form))
    except (EventLogError, FormError) as exc:
        return bulk_jobs(error=str(exc), status=400)
    except DomainError as exc:
        return bulk_jobs(error=exc.message, status=400)
    return redirect(url_for("web.bulk_job", job_id=job.id))


@bp.get("/bulk-jobs/<job_id>")
@signed_in_only
def bulk_job(job_id: str):
    """One job: its progress bar (kept up to date by static/job.js), error, downloads, cancel."""
    job = bulk.get_bulk_job(g.org_id, job_id)
    summary = (job.result or {}).get("summary") or {}
    return render_template(
        "web/bulk_job.html",
        job=job,
        state=bulk_state(job),
        risk=risk_bars(summary.get("risk_distribution")),
        spend=spend_bars(summary.get("predicted_spend_by_category")),
        spend_total=summary.get("predicted_spend_total"),
    )


def risk_bars(distribution: dict | None) -> list[dict]:
    """The risk distribution as bars: [{segment, customers, share (0–100)}] in segment order."""
    if not distribution:
        return []
    total = sum(distribution.values()) or 1
    return [
        {"segment": s, "customers": distribution.get(s, 0), "share": 100.0 * distribution.get(s, 0) / total}
        for s in SEGMENTS
    ]


def spend_bars(by_category: dict | None) -> list[dict]:
    """Predicted spend by category as bars, largest first: [{category, spend, width (0–100 % of
    the largest)}]; none for a job without category targets (or summed before they were)."""
    if not by_category:
        return []
    largest = max(max(by_category.values()), 0) or 1
    return [
        {"category": c, "spend": v, "width": 100.0 * max(v, 0) / largest}
        for c, v in sorted(by_category.items(), key=lambda item: -item[1])
    ]


@bp.get("/bulk-jobs/<job_id>/customers")
@signed_in_only
def customers(job_id: str):
    """A bulk job's customers, a page at a time, filtered by risk segment and sorted by risk or
    predicted spend, each with their reasons."""
    segment = request.args.get("segment") or None
    segment = segment if segment in SEGMENTS else None
    sort = request.args.get("sort", "-churn_probability")
    sort = sort if sort in SORTS else "-churn_probability"
    page = max(1, request.args.get("page", 1, type=int))
    job = bulk.get_bulk_job(g.org_id, job_id)
    rows, total = prediction_page(
        g.org_id, job.id, segment, sort, CUSTOMERS_PAGE, (page - 1) * CUSTOMERS_PAGE
    )
    pages = max(1, -(-total // CUSTOMERS_PAGE))
    return render_template(
        "web/customers.html",
        job=job,
        rows=rows,
        total=total,
        page=min(page, pages),
        pages=pages,
        segment=segment,
        sort=sort,
        segments=SEGMENTS,
        sorts=SORTS,
    )


@bp.get("/bulk-jobs/<job_id>/state")
@signed_in_only
def bulk_job_state(job_id: str):
    """The job's state as JSON, for the page's script."""
    return jsonify(bulk_state(bulk.get_bulk_job(g.org_id, job_id)))


@bp.post("/bulk-jobs/<job_id>/cancel")
@signed_in_only
def cancel(job_id: str):
    with contextlib.suppress(Conflict):  # finished meanwhile: the page shows how it ended
        bulk.cancel_bulk_job(g.org_id, job_id)
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


@bp.get("/templates/events.<file_format>")
@signed_in_only
def template(file_format: str):
    """The event-log template to fill in, as CSV or Excel (the API's templates)."""
    if file_format not in MEDIA:
        raise NotFound(f"no {file_format} template")
    body = BytesIO(templates.template_csv().encode()) if file_format == "csv" else templates.template_xlsx()
    return send_file(
        body, mimetype=MEDIA[file_format], as_attachment=True, download_name=f"events.{file_format}"
    )
