"""Response schemas of the dashboard summary (/api/v1/dashboard/summary)."""

from __future__ import annotations

from marshmallow import Schema, fields

from hcl_server.api.drift_schemas import DriftAlert
from hcl_server.api.outcome_schemas import SourceOut
from hcl_server.api.schemas import UtcDateTime


def _number(description: str):
    return fields.Float(allow_none=True, metadata={"description": description})


class HeadlineMetricsOut(Schema):
    churn_roc_auc = _number("ROC-AUC of the churn probability")
    churn_brier = _number("Brier score of the churn probability (lower is better)")
    spend_mae = _number("mean absolute error of the next-30-day spend, currency units")
    spend_gini = _number("normalized Gini of the spend ranking")
    spend_total_ratio = _number("predicted / actual total spend")


class RealizedOut(HeadlineMetricsOut):
    job_id = fields.String(metadata={"description": "the bulk job whose stored predictions matured"})
    as_of = fields.String(metadata={"description": "their as-of date"})
    customers = fields.Integer()
    source = fields.Nested(SourceOut)
    comparison = fields.Dict(
        allow_none=True,
        metadata={
            "description": "shadow outcomes: the paired test against production on the same customers "
            "and the automatic-promotion decision (see GET /api/v1/models/{version}/outcomes)"
        },
    )


class DashboardModelOut(Schema):
    version = fields.Integer()
    created_at = UtcDateTime()
    age_days = fields.Integer()
    training_data_last_date = fields.String(allow_none=True)
    validation = fields.Nested(
        HeadlineMetricsOut, metadata={"description": "on the time-based validation window"}
    )
    realized = fields.Nested(
        RealizedOut,
        allow_none=True,
        metadata={
            "description": "the latest matured predictions against what customers did (the candidate's: "
            "its shadow predictions); null until a newer log covers a horizon"
        },
    )


class DashboardModelsOut(Schema):
    production = fields.Nested(DashboardModelOut, allow_none=True)
    candidate = fields.Nested(DashboardModelOut, allow_none=True)


class DashboardJobOut(Schema):
    id = fields.String()
    finished_at = UtcDateTime(allow_none=True)
    as_of = fields.String(allow_none=True)
    customers = fields.Integer(allow_none=True)
    avg_churn_probability = fields.Float(allow_none=True)
    predicted_spend_total = fields.Float(allow_none=True)
    predicted_spend_per_customer = fields.Float(allow_none=True)
    risk_distribution = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        allow_none=True,
        metadata={"description": "customers per segment"},
    )
    drift_status = fields.String(
        allow_none=True, metadata={"description": "of the job's drift report; null: none"}
    )
    drift_alerts = fields.Integer()


class AlertsJobOut(Schema):
    job_id = fields.String()
    finished_at = UtcDateTime(allow_none=True)


class DashboardDriftOut(Schema):
    job = fields.Nested(
        AlertsJobOut, allow_none=True, metadata={"description": "the job the alerts come from"}
    )
    alerts = fields.List(fields.Nested(DriftAlert))


class RetrainingReasonOut(Schema):
    reason = fields.String(
        metadata={"description": "drift, realized_degradation, new_data, model_age or no_production_model"}
    )
    message = fields.String()


class RetrainingOut(Schema):
    recommended = fields.Boolean()
    reasons = fields.List(fields.Nested(RetrainingReasonOut))


class DashboardSummaryOut(Schema):
    generated_at = UtcDateTime()
    models = fields.Nested(DashboardModelsOut)
    jobs = fields.List(
        fields.Nested(DashboardJobOut),
        metadata={"description": "the latest succeeded bulk jobs, oldest first"},
    )
    drift = fields.Nested(DashboardDriftOut, metadata={"description": "open drift alerts"})
    retraining = fields.Nested(RetrainingOut)
