"""Request and response schemas: they validate input and generate the OpenAPI document."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from flask_smorest.fields import Upload
from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema
from werkzeug.datastructures import FileStorage

from hcl_server.api.drift_schemas import DriftState, JobDrift
from hcl_server.services.datasets import NAME_LENGTH, dataset_options
from hcl_server.services.reading import DATE_FORMAT_LENGTH, form_fields
from hcl_server.services.settings import threshold_problems
from hcl_server.services.training import HORIZON_DAYS
from ml_pipeline.data.columns import CANONICAL
from ml_pipeline.data.options import (
    AMOUNT_KINDS,
    DECIMAL_STYLES,
    DUPLICATE_POLICIES,
    EVENT_ROLES,
    ReadOptions,
)
from ml_pipeline.errors import EventLogError
from ml_pipeline.models.registry import MODEL_KINDS

HORIZON = validate.Range(*HORIZON_DAYS)
# Text the service stores or looks up: PostgreSQL cannot hold a NUL character in a text column.
NO_NUL = validate.Regexp(r"^[^\x00]*$", error="must not contain a NUL character")

# Documentation only: the type of a field computed by a method.
OBJECT_OR_NULL = {"type": "object", "nullable": True}
INTEGER_OR_NULL = {"type": "integer", "nullable": True}
# Documentation only: a download's body, the Excel media type, and the Location of a 202.
FILE = {"type": "string", "format": "binary"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LOCATION = {
    "Location": {"description": "the URL to poll for the status of the work", "schema": {"type": "string"}}
}


class JsonObject(fields.String):
    """A form field holding a JSON object as text; it loads as the dict ``inner`` makes of it."""

    def __init__(self, inner: fields.Dict, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner

    def _deserialize(self, value, attr, data, **kwargs) -> dict:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"not valid JSON: {exc}") from exc
        if not isinstance(parsed, dict):
            raise ValidationError("must be a JSON object")
        return self.inner.deserialize(parsed)


class UtcDateTime(fields.DateTime):
    """A timestamp with its offset, e.g. 2024-05-31T12:00:00.123456+00:00 (RFC 3339, the
    document's date-time). The columns are timezone-aware and written in UTC, but SQLite gives
    them back without a zone: they were answered without an offset there and with one on
    PostgreSQL, and an offset-less time reads as local time in JavaScript."""

    def _serialize(self, value, attr, obj, **kwargs):
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)


def accepted_as(option: str):
    """A validator: the value must be one ``ReadOptions`` accepts for ``option`` (its check's
    message otherwise), so the API refuses exactly what the CLI refuses."""

    def check(value) -> None:
        try:
            ReadOptions(**{option: value})
        except EventLogError as exc:
            raise ValidationError(str(exc)) from exc

    return check


class ReadingForm(Schema):
    """How to read the uploaded file: the CLI's reading options as form fields (ml_pipeline's
    ``OPTION_NAMES``); each left out is decided from the file, as the CLI does."""

    column_mapping = JsonObject(
        fields.Dict(keys=fields.String(validate=validate.OneOf(CANONICAL)), values=fields.String()),
        metadata={
            "description": "JSON object {field: the file's header} for headers that are not recognized, "
            f'e.g. {{"customer_id": "Kunde", "event_date": "Created (UTC)"}}; fields: {", ".join(CANONICAL)}; '
            'an empty header reads the file without that optional field, e.g. {"churn_label": ""} '
            "(CLI: --column FIELD=HEADER)"
        },
    )
    event_types = JsonObject(
        fields.Dict(keys=fields.String(), values=fields.String()),
        validate=accepted_as("event_types"),
        metadata={
            "description": "JSON object {value of the event-type column: role}, role one of "
            f"{', '.join(EVENT_ROLES)} (other: kept as a non-spend event; ignore: rows left out), "
            'e.g. {"charge": "purchase", "payout": "ignore"}; default: common shop, payment and '
            "status words are understood (CLI: --event-type VALUE=ROLE)"
        },
    )
    date_format = fields.String(
        validate=[validate.Length(min=1, max=DATE_FORMAT_LENGTH), accepted_as("date_format")],
        metadata={
            "description": "strptime format of event_date, e.g. %d/%m/%Y; default: decided from the "
            "file, and an ambiguous file is refused (CLI: --date-format)"
        },
    )
    decimal = fields.String(
        validate=validate.OneOf(DECIMAL_STYLES),
        metadata={
            "description": "decimal separator of amounts: dot (1,234.56) or comma (1.234,56; a dot then "
            "groups thousands); default: decided from the file (CLI: --decimal)"
        },
    )
    amount_is = fields.String(
        validate=validate.OneOf(AMOUNT_KINDS),
        metadata={
            "description": "the amount column is the row's total, or a unit price to multiply by the "
            "quantity; default: unit_price when the column is named like a unit price and the file "
            "has a quantity (CLI: --amount-is)"
        },
    )
    encoding = fields.String(
        validate=[validate.Length(min=1, max=50), accepted_as("encoding")],
        metadata={
            "description": "text encoding of a CSV, e.g. cp1252; default: decided from the whole file "
            "(a byte-order mark, else UTF-8, else Windows-1252) (CLI: --encoding)"
        },
    )
    sheet = fields.String(
        validate=validate.Length(min=1, max=300),
        metadata={"description": "Excel sheet to read; default: the first (CLI: --sheet)"},
    )
    max_bad_rows = fields.Float(
        allow_nan=False,
        validate=validate.Range(min=0, max=1),
        metadata={
            "description": "largest share (0 to 1) of unreadable rows dropped with a warning before "
            "the file is refused; default 0.01 (CLI: --max-bad-rows)"
        },
    )
    duplicates = fields.String(
        validate=validate.OneOf(DUPLICATE_POLICIES),
        metadata={
            "description": "exact duplicate rows: warn (keep them; refuse the file above 5%), keep, "
            "drop or error; default warn (CLI: --duplicates)"
        },
    )

    @pre_load
    def _drop_empty(self, data, **kwargs) -> dict:
        """A field sent empty (as an HTML form sends an unfilled one) counts as not sent."""
        return {k: v for k, v in data.items() if v != ""}


class FileUpload(Upload):
    """flask-smorest's Upload field, refusing a value that is not a file: the parser reads the
    form's fields too, so a ``file`` sent as a plain field (no filename) arrived as a str and
    failed later as a 500."""

    def _deserialize(self, value, attr, data, **kwargs) -> FileStorage:
        if not isinstance(value, FileStorage):
            raise ValidationError("must be a file: a multipart part with a filename")
        return value


class UploadForm(ReadingForm):
    """An event-log upload: the file and how to read it (multipart/form-data)."""

    file = FileUpload(
        required=True, metadata={"description": "event log: CSV (optionally .gz), .xlsx or Parquet"}
    )


class DatasetForm(UploadForm):
    name = fields.String(validate=[validate.Length(max=NAME_LENGTH), NO_NUL])


class DatasetOut(Schema):
    id = fields.String()
    name = fields.String()
    filename = fields.String()
    size_bytes = fields.Integer()
    status = fields.String()
    read_options = fields.Method(
        "_read_options",
        metadata={"type": "object", "description": "the reading options given at upload, by form field"},
    )
    profile = fields.Dict(allow_none=True)
    warnings = fields.List(fields.String())
    errors = fields.Method("_errors", metadata={"type": "array", "items": {"type": "string"}})
    created_at = UtcDateTime()
    updated_at = UtcDateTime()

    def _errors(self, row) -> list[str]:
        return [row.error] if row.error else []

    def _read_options(self, row) -> dict:
        return form_fields(dataset_options(row).to_dict())


class Accepted(Schema):
    id = fields.String()
    status = fields.String()


class TrainingRequest(Schema):
    dataset_id = fields.String(required=True, validate=NO_NUL)
    horizon_days = fields.Integer(validate=HORIZON, load_default=None)
    churn_horizon_days = fields.Integer(validate=HORIZON, load_default=None)
    as_of = fields.Date(
        load_default=None,
        metadata={
            "description": "YYYY-MM-DD; default: the day after the last event; refused (422) when it "
            "is a whole horizon or more after that day (the newest window, validated on, would hold "
            "no event)"
        },
    )
    models = fields.List(
        fields.String(validate=validate.OneOf(MODEL_KINDS)),
        validate=validate.Length(min=1),
        load_default=None,
        metadata={"description": f"model types to try per target (default: all of {', '.join(MODEL_KINDS)})"},
    )
    churn_label = fields.Boolean(
        load_default=None,
        metadata={
            "description": "true: learn churn from the dataset's churn_label column (0/1, yes/no or "
            "true/false per customer) instead of 'no purchase in the next churn_horizon_days'; "
            "validated on 20% of the labelled customers held out at random (stratified), recorded in "
            "the churn metrics under label; unlabelled customers are still scored. A dataset without "
            "the column is refused (422). Default false (CLI: --churn-label)"
        },
    )


class JobState(Schema):
    """What every background job reports to clients that poll it."""

    id = fields.String()
    status = fields.String(metadata={"description": "queued, running, succeeded, failed or cancelled"})
    stage = fields.String(allow_none=True)
    progress = fields.Float(metadata={"description": "0 to 1"})
    error = fields.String(allow_none=True)
    warnings = fields.List(fields.String())
    attempts = fields.Integer(
        metadata={
            "description": "deliveries to a worker so far; more than 1 means a worker died running "
            "it and another took over; after 3 such deaths the job fails"
        }
    )
    created_at = UtcDateTime()
    started_at = UtcDateTime(allow_none=True)
    finished_at = UtcDateTime(allow_none=True)


class JobOut(JobState):
    dataset_id = fields.String(allow_none=True)
    params = fields.Dict()
    metrics = fields.Method("_metrics", metadata=OBJECT_OR_NULL)
    selection = fields.Method("_selection", metadata=OBJECT_OR_NULL)
    training = fields.Method(
        "_training",
        metadata={
            **OBJECT_OR_NULL,
            "description": "which model was trained and why: {model: rolling_windows or btyd_fallback "
            "(BG/NBD + Gamma-Gamma on the whole history, for a log too short for rolling windows), why}",
        },
    )
    model_version = fields.Method("_version", metadata=INTEGER_OR_NULL)

    def _metrics(self, job) -> dict | None:
        return (job.result or {}).get("metrics")

    def _selection(self, job) -> dict | None:
        return (job.result or {}).get("selection")

    def _training(self, job) -> dict | None:
        return (job.result or {}).get("training")

    def _version(self, job) -> int | None:
        return (job.result or {}).get("model_version")


class TrainingList(Schema):
    training_jobs = fields.List(fields.Nested(JobOut))
    total = fields.Integer(metadata={"description": "the organization's training jobs in all"})
    limit = fields.Integer()
    offset = fields.Integer()


class Lineage(Schema):
    """Where a model version came from; fixed when it was registered (null: not recorded then)."""

    dataset_id = fields.String(allow_none=True)
    training_job_id = fields.String(allow_none=True)
    training_data_sha256 = fields.String(
        allow_none=True, metadata={"description": "SHA-256 of the training data"}
    )
    params = fields.Dict(allow_none=True, metadata={"description": "the training job's parameters"})
    metrics = fields.Dict()


class ModelOut(Schema):
    version = fields.Integer()
    is_production = fields.Boolean(metadata={"description": "the production alias names this version"})
    aliases = fields.Function(
        lambda mv: [a.alias for a in mv.aliases],
        metadata={"type": "array", "items": {"type": "string"}, "description": "aliases naming this version"},
    )
    created_at = UtcDateTime()
    promoted_at = UtcDateTime(allow_none=True)
    training_job_id = fields.String(allow_none=True)
    metrics = fields.Dict()


class FeatureImportanceOut(Schema):
    feature = fields.String()
    gain = fields.Float(
        allow_none=True,
        metadata={"description": "share of the predictor's total gain (sums to 1); null: it has none"},
    )
    mean_abs_contribution = fields.Float(
        allow_none=True,
        metadata={"description": "mean |contribution| over the validation rows, in `unit`; null: none"},
    )


class TargetImportanceOut(Schema):
    predictor = fields.String(metadata={"description": "the production predictor's type"})
    unit = fields.String(
        metadata={
            "description": "of the contributions: log-odds (churn), log of the mean spend, spend amount"
        }
    )
    method = fields.String(
        allow_none=True, metadata={"description": "contributions: exact (tree SHAP) or path"}
    )
    rows = fields.Integer(metadata={"description": "validation rows averaged over (a sample beyond 5,000)"})
    validation_rows = fields.Integer()
    gain_missing = fields.String(allow_none=True, metadata={"description": "why there is no gain"})
    contribution_missing = fields.String(
        allow_none=True, metadata={"description": "why there is no mean |contribution|"}
    )
    features = fields.List(
        fields.Nested(FeatureImportanceOut),
        metadata={"description": "by mean |contribution|, then gain; features with neither left out"},
    )


class ModelDetailOut(ModelOut):
    lineage = fields.Nested(Lineage)
    details = fields.Method("_details", metadata={"type": "object"})
    importance = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(TargetImportanceOut),
        attribute="bundle_metadata.importance",
        dump_default=dict,
        metadata={
            "description": "per target, the production predictor's feature importance on validation "
            "(empty for a model trained before it was kept)"
        },
    )

    def _details(self, mv) -> dict:
        meta = mv.bundle_metadata
        keys = (
            "as_of",
            "horizon_days",
            "churn_horizon_days",
            "features",
            "categories",
            "selection",
            "training",
            "risk_thresholds",
            "dataset",
            "training_data",
            "library_versions",
            "warnings",
        )
        return {k: meta.get(k) for k in keys}


class ModelList(Schema):
    models = fields.List(fields.Nested(ModelOut))


class DatasetList(Schema):
    datasets = fields.List(fields.Nested(DatasetOut))


class Transaction(Schema):
    event_date = fields.String(
        required=True, metadata={"description": "ISO 8601 date or datetime, e.g. 2024-05-31"}
    )
    amount = fields.Float(load_default=0.0, allow_nan=False)
    event_type = fields.String(load_default=None)
    category = fields.String(load_default=None)


class CustomerRequest(Schema):
    customer_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    transactions = fields.List(
        fields.Nested(Transaction), required=True, validate=validate.Length(min=1, max=10000)
    )
    as_of = fields.Date(load_default=None, metadata={"description": "YYYY-MM-DD; default: today (UTC)"})


class BatchRequest(Schema):
    customers = fields.List(
        fields.Nested(CustomerRequest), required=True, validate=validate.Length(min=1, max=5000)
    )


REASONS_DOC = (
    "up to three factors that push this customer's churn risk up the most, largest first, from the "
    "churn model's tree-SHAP contributions, with the customer's own numbers"
)


class PredictionOut(Schema):
    customer_id = fields.String()
    churn_probability = fields.Float()
    risk_segment = fields.String()
    reasons = fields.List(fields.String(), metadata={"description": REASONS_DOC})
    predicted_spend = fields.Dict(keys=fields.String(), values=fields.Float())
    model_version = fields.Integer()


class BatchOut(Schema):
    predictions = fields.List(fields.Nested(PredictionOut))


class BulkForm(UploadForm):
    name = fields.String(validate=[validate.Length(max=NAME_LENGTH), NO_NUL])
    as_of = fields.Date(
        load_default=None, metadata={"description": "YYYY-MM-DD; default: the day after the last event"}
    )


class BulkJobOut(JobState):
    drift = JobDrift(
        DriftState,
        allow_none=True,
        metadata={
            "description": "drift of the job's features and predictions from the model's training "
            "data (GET .../drift has the whole report); null for a job that failed or was cancelled"
        },
    )
    name = fields.Function(lambda job: job.params.get("name"), metadata={"type": "string", "nullable": True})
    total_customers = fields.Function(
        lambda job: (job.result or {}).get("total_customers"), metadata=INTEGER_OR_NULL
    )
    summary = fields.Function(
        lambda job: (job.result or {}).get("summary"),
        metadata={
            **OBJECT_OR_NULL,
            "description": "when it has succeeded: {avg_churn_probability, risk_distribution, "
            "predicted_spend_total, predicted_spend_by_category (category -> total of the next "
            "horizon's predicted spend; {} for a model without category targets, null for a job scored "
            "in part before categories were summed)}",
        },
    )
    as_of = fields.Function(
        lambda job: job.params.get("as_of"), metadata={"type": "string", "format": "date", "nullable": True}
    )
    read_options = fields.Function(
        lambda job: form_fields(job.params.get("read_options")),
        metadata={"type": "object", "description": "the reading options given at upload, by form field"},
    )
    xlsx = fields.Function(
        lambda job: (job.result or {}).get("xlsx"),
        metadata={
            "type": "string",
            "nullable": True,
            "description": "Excel download: pending, ready, too_many_rows or failed (the CSV is ready at success)",
        },
    )
    xlsx_error = fields.Function(
        lambda job: (job.result or {}).get("xlsx_error"),
        metadata={
            "type": "string",
            "nullable": True,
            "description": "why the Excel file failed, when it has",
        },
    )
    model_version = fields.Method("_version", metadata=INTEGER_OR_NULL)
    shadow = fields.Function(
        lambda job: getattr(job, "shadow_state", None),
        metadata={
            **OBJECT_OR_NULL,
            "description": "the candidate model scored in shadow after the job succeeded (stored apart, "
            "never in the downloads or predictions pages), null when the candidate alias named no "
            "other version than production at submission: {version, status: pending, done, failed "
            "or stopped (the job failed or was cancelled first), customers scored, error}",
        },
    )

    def _training(self, job) -> dict | None:
        return (job.result or {}).get("training")

    def _version(self, job) -> int | None:
        # Loaded with the job (repositories.jobs): no query per row here.
        return job.model_version.version if job.model_version else None


class PageArgs(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=1000))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**31 - 1))


class BulkList(Schema):
    bulk_jobs = fields.List(fields.Nested(BulkJobOut))
    total = fields.Integer()
    limit = fields.Integer()
    offset = fields.Integer()


SORTS = (
    "churn_probability",
    "-churn_probability",
    "spend_total",
    "-spend_total",
    "customer_id",
    "-customer_id",
)


class PredictionArgs(PageArgs):
    risk_segment = fields.String(validate=validate.OneOf(("Low", "Medium", "High", "Critical")))
    sort = fields.String(load_default="-churn_probability", validate=validate.OneOf(SORTS))


class StoredPrediction(Schema):
    customer_id = fields.String()
    churn_probability = fields.Float()
    risk_segment = fields.String()
    reasons = fields.List(fields.String(), metadata={"description": REASONS_DOC})
    predicted_spend = fields.Function(
        lambda p: {"total": p.spend_total, **p.spend},
        metadata={"type": "object", "additionalProperties": {"type": "number"}},
    )
    job_id = fields.String()
    created_at = UtcDateTime()


class PredictionPage(Schema):
    predictions = fields.List(fields.Nested(StoredPrediction))
    total = fields.Integer()
    limit = fields.Integer()
    offset = fields.Integer()


class DownloadArgs(Schema):
    format = fields.String(load_default="csv", validate=validate.OneOf(("csv", "xlsx")))


class ErrorBody(Schema):
    status = fields.Integer(required=True, metadata={"description": "the HTTP status, e.g. 422"})
    code = fields.String(
        required=True,
        metadata={"description": "the status's phrase in snake case, e.g. unprocessable_entity"},
    )
    message = fields.String(required=True, metadata={"description": "what went wrong, for a person"})
    details = fields.Dict(
        metadata={
            "description": "more, when there is any: for a request that does not validate, the "
            'messages by location and field, e.g. {"form": {"decimal": ["Must be one of: dot, comma."]}}'
        }
    )


class Error(Schema):
    """What every error answers (api/errors.py): {"error": {"status", "code", "message", "details"?}}."""

    error = fields.Nested(ErrorBody, required=True)


THRESHOLD = validate.Range(min=0, max=1)


class RiskThresholds(Schema):
    """Churn probabilities where the risk segments start: Low below medium, Medium from medium,
    High from high, Critical from critical (the shape of the model bundle's risk_thresholds)."""

    medium = fields.Float(required=True, allow_nan=False, validate=THRESHOLD, metadata={"example": 0.3})
    high = fields.Float(required=True, allow_nan=False, validate=THRESHOLD, metadata={"example": 0.5})
    critical = fields.Float(required=True, allow_nan=False, validate=THRESHOLD, metadata={"example": 0.7})

    @validates_schema
    def _ordered(self, data, **kwargs) -> None:
        problems = threshold_problems(data)
        if problems:
            raise ValidationError(problems)


class RiskThresholdsOut(Schema):
    medium = fields.Float()
    high = fields.Float()
    critical = fields.Float()
    source = fields.String(
        metadata={
            "description": "organization: set with PUT; model: the production model's (after DELETE, "
            "or never set); default: no production model yet, the thresholds a new model carries",
            "enum": ["organization", "model", "default"],
        }
    )
    model_version = fields.Integer(
        allow_none=True, metadata={"description": "the production model version, null without one"}
    )


class ApiKeyOut(Schema):
    """An API key as it may be shown: never the key itself nor its hash."""

    id = fields.String()
    prefix = fields.String(metadata={"description": "the key's first 12 characters, to tell keys apart"})
    created_at = UtcDateTime()
    revoked_at = UtcDateTime(allow_none=True)
    active = fields.Boolean(metadata={"description": "not revoked: requests with it are accepted"})
    current = fields.Boolean(metadata={"description": "the key this request was made with"})


class ApiKeyList(Schema):
    api_keys = fields.List(fields.Nested(ApiKeyOut))


class ApiKeyIssued(ApiKeyOut):
    api_key = fields.String(
        metadata={"description": "the key to send as X-API-Key; shown only in this answer, stored hashed"}
    )


class ApiKeyRotated(ApiKeyIssued):
    replaces = fields.Nested(ApiKeyOut, metadata={"description": "the key the rotation revoked"})
