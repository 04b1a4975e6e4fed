"""Request and response schemas: they validate input and generate the OpenAPI document."""

from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

from ml_pipeline.models.registry import MODEL_KINDS

HORIZON = validate.Range(min=1, max=365)


class DatasetUpload(Schema):
    file = Upload(
        required=True, metadata={"description": "event log: CSV (optionally .gz), .xlsx or Parquet"}
    )


class DatasetForm(Schema):
    name = fields.String(validate=validate.Length(max=300))
    column_mapping = fields.String(metadata={"description": 'JSON object, e.g. {"customer_id": "Kunde"}'})


class DatasetOut(Schema):
    id = fields.String()
    name = fields.String()
    filename = fields.String()
    size_bytes = fields.Integer()
    status = fields.String()
    profile = fields.Dict(allow_none=True)
    warnings = fields.List(fields.String())
    errors = fields.Method("_errors")
    created_at = fields.DateTime()
    updated_at = fields.DateTime()

    def _errors(self, row) -> list[str]:
        return [row.error] if row.error else []


class Accepted(Schema):
    id = fields.String()
    status = fields.String()


class TrainingRequest(Schema):
    dataset_id = fields.String(required=True)
    horizon_days = fields.Integer(validate=HORIZON, load_default=None)
    churn_horizon_days = fields.Integer(validate=HORIZON, load_default=None)
    as_of = fields.Date(
        load_default=None, metadata={"description": "YYYY-MM-DD; default: the day after the last event"}
    )
    models = fields.List(
        fields.String(validate=validate.OneOf(MODEL_KINDS)),
        validate=validate.Length(min=1),
        load_default=None,
        metadata={"description": f"model types to try per target (default: all of {', '.join(MODEL_KINDS)})"},
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
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)


class JobOut(JobState):
    dataset_id = fields.String(allow_none=True)
    params = fields.Dict()
    metrics = fields.Method("_metrics")
    selection = fields.Method("_selection")
    training = fields.Method(
        "_training",
        metadata={
            "description": "which model was trained and why: {model: rolling_windows or btyd_fallback "
            "(BG/NBD + Gamma-Gamma on the whole history, for a log too short for rolling windows), why}"
        },
    )
    model_version = fields.Method("_version")

    def _metrics(self, job) -> dict | None:
        return (job.result or {}).get("metrics")

    def _selection(self, job) -> dict | None:
        return (job.result or {}).get("selection")

    def _training(self, job) -> dict | None:
        return (job.result or {}).get("training")

    def _version(self, job) -> int | None:
        return (job.result or {}).get("model_version")


class ModelOut(Schema):
    version = fields.Integer()
    is_production = fields.Boolean()
    created_at = fields.DateTime()
    promoted_at = fields.DateTime(allow_none=True)
    training_job_id = fields.String(allow_none=True)
    metrics = fields.Dict()


class ModelDetailOut(ModelOut):
    details = fields.Method("_details")

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


class BulkForm(Schema):
    name = fields.String(validate=validate.Length(max=300))
    as_of = fields.Date(
        load_default=None, metadata={"description": "YYYY-MM-DD; default: the day after the last event"}
    )


class BulkJobOut(JobState):
    name = fields.Function(lambda job: job.params.get("name"))
    total_customers = fields.Function(lambda job: (job.result or {}).get("total_customers"))
    summary = fields.Function(lambda job: (job.result or {}).get("summary"))
    as_of = fields.Function(lambda job: job.params.get("as_of"))
    xlsx = fields.Function(
        lambda job: (job.result or {}).get("xlsx"),
        metadata={
            "description": "Excel download: pending, ready, too_many_rows or failed (the CSV is ready at success)"
        },
    )
    model_version = fields.Method("_version")

    def _training(self, job) -> dict | None:
        return (job.result or {}).get("training")

    def _version(self, job) -> int | None:
        # Loaded with the job (repositories.jobs): no query per row here.
        return job.model_version.version if job.model_version else None


class PageArgs(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=1000))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0))


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
    predicted_spend = fields.Function(lambda p: {"total": p.spend_total, **p.spend})
    job_id = fields.String()
    created_at = fields.DateTime()


class PredictionPage(Schema):
    predictions = fields.List(fields.Nested(StoredPrediction))
    total = fields.Integer()
    limit = fields.Integer()
    offset = fields.Integer()


class DownloadArgs(Schema):
    format = fields.String(load_default="csv", validate=validate.OneOf(("csv", "xlsx")))
