"""Schemas of realized outcomes (/api/v1/models/{version}/outcomes, /api/v1/bulk-jobs/{job_id}/outcomes)
and of the automatic promotion settings (/api/v1/settings/auto-promotion)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from hcl_server.api.schemas import UtcDateTime

METRICS = (
    "realized metrics: {customers, churn: {roc_auc, pr_auc, log_loss, brier, observed_rate, "
    "mean_predicted, n, calibration: [{lo, hi, n, mean_predicted, observed_rate}] by decile of the "
    "prediction}, spend: {mae, rmse, r2, gini, spearman, predicted_total, actual_total, total_ratio, n}, "
    "categories: {category: spend metrics}, absent_from_log: {customers, share}}; null where a "
    "metric is undefined (e.g. ROC-AUC when every customer churned). Customers predicted but absent "
    "from the newer log count as churned with no spend."
)
COMPARISON = (
    "shadow rows only: the candidate against the job's production predictions on the same customers "
    "(differences are candidate minus production): {customers, production_version, brier, log_loss, "
    "spend_abs_error: {difference, statistic, p_value, test: ttest_rel}, roc_auc: {candidate, "
    "production, difference, statistic, p_value, test: delong}, decision: {promoted, reason, gain, "
    "margin, customers}}"
)


class SourceOut(Schema):
    kind = fields.String(metadata={"enum": ["dataset", "bulk"], "description": "the newer log's kind"})
    id = fields.String(metadata={"description": "the dataset's or bulk job's id"})


class OutcomeOut(Schema):
    job_id = fields.String(metadata={"description": "the bulk job whose stored predictions were scored"})
    model_version = fields.Integer(allow_none=True)
    as_of = fields.String(metadata={"description": "the predictions' as-of date (YYYY-MM-DD)"})
    source = fields.Nested(SourceOut)
    shadow = fields.Boolean(metadata={"description": "the candidate's shadow predictions, not the job's own"})
    customers = fields.Integer(metadata={"description": "customers scored"})
    metrics = fields.Dict(metadata={"description": METRICS})
    comparison = fields.Dict(allow_none=True, metadata={"description": COMPARISON})
    created_at = UtcDateTime()


class PendingOut(Schema):
    job_id = fields.String()
    as_of = fields.String(metadata={"description": "the predictions' as-of date"})
    shadow = fields.Boolean(metadata={"description": "the version's predictions there are shadow ones"})
    needs_events_through = fields.String(
        allow_none=True,
        metadata={
            "description": "a dataset or bulk file with events from the as-of date through this day "
            "scores them (the as-of date plus the longer horizon, less one day)"
        },
    )


class ModelOutcomes(Schema):
    version = fields.Integer()
    validation = fields.Dict(metadata={"description": "the version's validation metrics at training"})
    realized = fields.Nested(
        OutcomeOut,
        allow_none=True,
        metadata={
            "description": "the outcome of the latest as-of date scored (production predictions "
            "first); null until a newer log covers one"
        },
    )
    jobs = fields.List(
        fields.Nested(OutcomeOut), metadata={"description": "every outcome, newest as-of first"}
    )
    pending = fields.List(
        fields.Nested(PendingOut),
        metadata={
            "description": "bulk jobs of this version whose predictions have not matured in any log yet"
        },
    )


class JobOutcomes(Schema):
    job_id = fields.String()
    outcomes = fields.List(fields.Nested(OutcomeOut))


class AutoPromotionIn(Schema):
    """Fields left out keep their value."""

    enabled = fields.Boolean(metadata={"description": "promote the candidate when it qualifies"})
    margin = fields.Float(
        allow_nan=False,
        validate=validate.Range(min=0, max=1),
        metadata={"description": "how much lower the candidate's realized log loss must be", "example": 0.01},
    )
    min_customers = fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=10**9),
        metadata={"description": "customers compared at least", "example": 500},
    )


class AutoPromotionOut(Schema):
    enabled = fields.Boolean()
    margin = fields.Float()
    min_customers = fields.Integer()
    metric = fields.String(
        metadata={"description": "the metric the margin is on (model selection's: log_loss)"}
    )
