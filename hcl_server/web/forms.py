"""What the upload and training forms of the pages send, read as the API's fields, and the
state a job page's script polls."""

from __future__ import annotations

from datetime import date

from ml_pipeline.data.columns import CANONICAL
from ml_pipeline.data.options import parse_pairs
from ml_pipeline.errors import EventLogError
from ml_pipeline.models.registry import MODEL_KINDS

ACTIVE = ("queued", "running")
HORIZON_DAYS = (1, 365)  # the API's range for horizon_days and churn_horizon_days


class FormError(ValueError):
    """A form field the service would refuse; the message names the field and what it takes."""


def reading_options(form) -> dict:
    """The upload form's reading options as the API's form fields (services.reading): the column
    and event-type mappings one ``KEY=VALUE`` a line, the date format and the decimal separator;
    an empty field is decided from the file. Raises EventLogError for a line that is not KEY=VALUE."""
    out: dict = {}
    for field, flag, example in (
        ("column_mapping", "column mapping", "customer_id=Kunde"),
        ("event_types", "event types", "charge=purchase"),
    ):
        lines = [line for line in (form.get(field) or "").splitlines() if line.strip()]
        try:
            pairs = parse_pairs(lines, "--event-type" if field == "event_types" else "--column", example)
        except EventLogError:
            raise EventLogError(f"{flag}: write one KEY=VALUE a line, e.g. {example}") from None
        unknown = sorted(set(pairs) - set(CANONICAL)) if field == "column_mapping" else []
        if unknown:  # as the API's form schema refuses them
            raise EventLogError(
                f"column mapping: {', '.join(unknown)} is not a field; fields: {', '.join(CANONICAL)}"
            )
        if pairs:
            out[field] = pairs
    for field in ("date_format", "decimal"):
        if form.get(field):
            out[field] = form[field]
    return out


def training_request(dataset_id: str, form) -> dict:
    """The training form as the API's training request (services.training.create_training_job):
    the model types ticked (none ticked: FormError), the horizons in days (empty: the default,
    30), the as-of date (YYYY-MM-DD, empty: the day after the last event) and whether churn is
    learned from the file's churn label column. Raises FormError for a value the API refuses."""
    models = form.getlist("models")
    if not models or set(models) - set(MODEL_KINDS):
        raise FormError(f"model types: tick at least one of {', '.join(MODEL_KINDS)}")
    request = {"dataset_id": dataset_id, "models": models, "churn_label": form.get("churn_label") == "on"}
    for field, label in (("horizon_days", "spend horizon"), ("churn_horizon_days", "churn horizon")):
        text = (form.get(field) or "").strip()
        if not text:
            continue
        low, high = HORIZON_DAYS
        if not text.isdigit() or not low <= int(text) <= high:
            raise FormError(f"{label}: a whole number of days from {low} to {high}, not {text!r}")
        request[field] = int(text)
    text = (form.get("as_of") or "").strip()
    if text:
        try:
            request["as_of"] = date.fromisoformat(text).isoformat()
        except ValueError:
            raise FormError(f"as of: a date as YYYY-MM-DD, not {text!r}") from None
    return request


def job_state(job, **extra) -> dict:
    """What a job page shows and its script (static/job.js) polls: status, stage, progress
    (0–1), error, warnings, and the ``extra`` items of its kind."""
    return {
        "id": job.id,
        "status": job.status,
        "stage": getattr(job, "stage", None),
        "progress": round(float(getattr(job, "progress", None) or 0.0), 4),
        "error": job.error,
        "warnings": list(job.warnings or []),
        **extra,
    }
