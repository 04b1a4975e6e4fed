"""Datasets in the web pages: upload an event log with its reading options, see what the
profile decided and warned about, then train a model on it."""

from __future__ import annotations

from flask import g, jsonify, redirect, render_template, request, url_for

from hcl_server.errors import DomainError
from hcl_server.services import datasets, training
from hcl_server.services.datasets import NAME_LENGTH
from hcl_server.web import bp
from hcl_server.web.forms import (
    FormError,
    job_state,
    reading_options,
    text_field,
    training_request,
)
from hcl_server.web.views import signed_in_only
from ml_pipeline.errors import EventLogError
from ml_pipeline.models.registry import MODEL_KINDS

# The profile's counts as the dataset page lists them: key -> label.
COUNTS = {
    "rows_read": "rows read",
    "rows_dropped": "rows left out",
    "rows": "events kept",
    "duplicate_rows": "exact duplicate rows (kept)",
    "customers": "customers",
    "customers_with_one_event": "customers with one event",
    "first_date": "first event",
    "last_date": "last event",
    "categories": "categories",
    "amount_total": "amount, total",
    "refund_total": "refunds, total",
    "implausible_dates_left_out": "implausible dates left out",
    "implausible_amounts_replaced": "implausible amounts replaced",
}
# The profile's reading decisions: key -> label.
DECISIONS = {
    "format": "file format",
    "encoding": "text encoding",
    "columns": "columns (field ← header)",
    "date_format": "date format",
    "decimal": "decimal separator",
    "amount": "amounts",
    "event_types": "event types (value → role)",
}


@bp.get("/datasets")
@signed_in_only
def datasets_page(error: str | None = None, status: int = 200):
    """The organization's datasets, newest first, with the form to upload one."""
    rows = datasets.list_datasets(g.org_id)
    return render_template("web/datasets.html", datasets=rows, error=error), status


@bp.post("/datasets")
@signed_in_only
def upload_dataset():
    """Store the uploaded log as a dataset and read it in the background; its page, or the
    form again with what was wrong and how to get past it."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return datasets_page(error="Choose an event log file (CSV, .gz, .xlsx or Parquet).", status=400)
    try:
        name = text_field(request.form, "name", "name", NAME_LENGTH)
        dataset = datasets.create_dataset(g.org_id, upload, name, reading_options(request.form))
    except (EventLogError, FormError) as exc:
        return datasets_page(error=str(exc), status=400)
    except DomainError as exc:
        return datasets_page(error=exc.message, status=400)
    return redirect(url_for("web.dataset", dataset_id=dataset.id))


def dataset_state(dataset) -> dict:
    """The dataset page's state: a dataset has no stages, only read (progress 1) or not."""
    stage = "reading the file" if dataset.status == "running" else None
    return job_state(dataset, stage=stage, progress=float(dataset.status == "succeeded"))


@bp.get("/datasets/<dataset_id>")
@signed_in_only
def dataset(dataset_id: str, error: str | None = None, status: int = 200):
    """One dataset: while it is read, a progress bar (static/job.js); then the profile's
    reading decisions, counts and warnings, and the form to train a model on it."""
    found = datasets.get_dataset(g.org_id, dataset_id)
    profile = found.profile or {}
    return render_template(
        "web/dataset.html",
        dataset=found,
        state=dataset_state(found),
        decisions=decision_rows(profile.get("reading") or {}),
        counts=[(label, profile[key]) for key, label in COUNTS.items() if profile.get(key) is not None],
        profile=profile,
        model_kinds=MODEL_KINDS,
        has_label="churn_label" in (profile.get("columns") or {}),
        error=error,
    ), status


def decision_rows(reading: dict) -> list[tuple[str, list[str]]]:
    """The reading decisions as (label, lines): a mapping gives one ``key ← value`` line (columns)
    or ``key → value`` line (event types) each, anything else its text."""
    rows = []
    for key, label in DECISIONS.items():
        value = reading.get(key)
        if value is None:
            continue
        if isinstance(value, dict):
            arrow = " ← " if key == "columns" else " → "
            lines = [f"{k}{arrow}{v}" for k, v in value.items()]
        else:
            lines = [str(value)]
        rows.append((label, lines))
    extra = sorted(set(reading) - set(DECISIONS))  # a decision added to the profile later
    rows.extend((key.replace("_", " "), [str(reading[key])]) for key in extra)
    return rows


@bp.get("/datasets/<dataset_id>/state")
@signed_in_only
def dataset_state_json(dataset_id: str):
    """The dataset's state as JSON, for the page's script."""
    return jsonify(dataset_state(datasets.get_dataset(g.org_id, dataset_id)))


@bp.post("/datasets/<dataset_id>/train")
@signed_in_only
def train(dataset_id: str):
    """Start training on the dataset with the form's choices; the training job's page, or the
    dataset's page again saying what was wrong."""
    try:
        job = training.create_training_job(g.org_id, training_request(dataset_id, request.form))
    except FormError as exc:
        return dataset(dataset_id, error=str(exc), status=400)
    except DomainError as exc:
        return dataset(dataset_id, error=exc.message, status=400)
    return redirect(url_for("web.training_job", job_id=job.id))
