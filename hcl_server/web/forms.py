"""What the upload and training forms of the pages send, read as the API's fields, and the
state a job page's script polls."""

from __future__ import annotations

from datetime import date

from hcl_server.services.reading import DATE_FORMAT_LENGTH
from hcl_server.services.training import HORIZON_DAYS
from ml_pipeline.data.columns import CANONICAL
from ml_pipeline.data.options import parse_pairs
from ml_pipeline.errors import EventLogError
from ml_pipeline.models.registry import MODEL_KINDS

# Phrases of the services' and the pipeline's messages that name an API call or a CLI flag, as a
# user of these pages does it instead.
PAGE_WORDS = (
    ("train one with POST /api/v1/training-jobs", "train one on the Datasets page"),
    (
        'map one with column_mapping {"churn_label": "HEADER"}',
        "map one with a churn_label=HEADER line of the column mapping",
    ),
    ("a later --as-of", "a later as_of through the API"),
)


class FormError(ValueError):
    """A form field the service would refuse; the message names the field and what it takes."""


def page_worded(message: str | None) -> str:
    """A service's message as these pages say it (PAGE_WORDS); "" for None."""
    text = message or ""
    for api, page in PAGE_WORDS:
        text = text.replace(api, page)
    return text


def text_field(form, field: str, label: str, max_length: int) -> str | None:
    """A form's text field, None when empty; FormError when it is longer than the API allows or
    holds a NUL character (the database refuses one)."""
    text = form.get(field) or ""
    if len(text) > max_length:
        raise FormError(f"{label}: at most {max_length} characters, not {len(text)}")
    if "\x00" in text:
        raise FormError(f"{label}: remove the NUL character")
    return text or None


def iso_date(form, field: str, label: str) -> str | None:
    """A form's date field (YYYY-MM-DD) as ISO text, None when empty; FormError otherwise."""
    text = (form.get(field) or "").strip()
    if not text:
        return None
    try:
        if text.isascii():  # fromisoformat takes other digits, which the API refuses
            return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    raise FormError(f"{label}: a date as YYYY-MM-DD, not {text!r}")


def reading_options(form) -> dict:
    """The upload form's reading options as the API's form fields (services.reading): the column
    and event-type mappings one ``KEY=VALUE`` a line, the date format and the decimal separator;
    an empty field is decided from the file. Raises EventLogError for a line that is not KEY=VALUE,
    FormError for a value the API refuses before reading (too long, a NUL character); the values
    themselves are checked by ml_pipeline's ReadOptions when the upload is stored."""
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
        if any("\x00" in k + v for k, v in pairs.items()):
            raise FormError(f"{flag}: remove the NUL character")
        if pairs:
            out[field] = pairs
    date_format = text_field(form, "date_format", "date format", DATE_FORMAT_LENGTH)
    if date_format:
        out["date_format"] = date_format
    if form.get("decimal"):
        out["decimal"] = form["decimal"]
    return out


def training_request(dataset_id: str, form) -> dict:
    """The training form as the API's training request (services.training.create_training_job):
    the model types ticked (none ticked: FormError), the horizons in days (empty: the default,
    30) and whether churn is learned from the file's churn label column. The pages train as of
    the day after the log's last event (the API takes another as_of). Raises FormError for a value
    the API refuses."""
    models = form.getlist("models")
    if not models or set(models) - set(MODEL_KINDS):
        raise FormError(f"model types: tick at least one of {', '.join(MODEL_KINDS)}")
    request = {"dataset_id": dataset_id, "models": models, "churn_label": form.get("churn_label") == "on"}
    for field, label in (("horizon_days", "spend horizon"), ("churn_horizon_days", "churn horizon")):
        text = (form.get(field) or "").strip()
        if not text:
            continue
        low, high = HORIZON_DAYS
        # isascii: "²".isdigit() holds, but int() refuses it
        if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
            raise FormError(f"{label}: a whole number of days from {low} to {high}, not {text!r}")
        request[field] = int(text)
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
