"""Schemas of drift: a bulk job's drift (on its answer, and its whole report) and the
organization's drift thresholds."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from hcl_server.services.settings import drift_threshold_problems

ABOVE_ZERO = validate.Range(min=0, min_inclusive=False)
PSI_DOC = "population stability index above which a {} alerts (0.1-0.25 reads as a moderate shift)"


class DriftAlert(Schema):
    kind = fields.String(metadata={"enum": ["feature_psi", "prediction_psi", "unseen_share"]})
    name = fields.String(metadata={"description": "the feature, prediction or category group"})
    value = fields.Float(metadata={"description": "its PSI, or its share of weight on unseen categories"})
    threshold = fields.Float(metadata={"description": "the organization's threshold it is above"})
    message = fields.String()


class DriftState(Schema):
    status = fields.String(
        metadata={
            "enum": ["pending", "done", "no_reference", "failed"],
            "description": "pending until the job's drift task has run (after the job succeeded); "
            "no_reference: the model keeps no training reference to compare with",
        }
    )
    alerts = fields.List(fields.Nested(DriftAlert))


def drift_state(job) -> dict | None:
    """A bulk job's drift as its answer carries it: its report's status and alerts, pending while
    the job is queued or running, None for a job that ended without success (or one scored
    before drift reports were kept)."""
    report = job.drift_report  # loaded with the job (repositories.jobs)
    if report is not None:
        return {"status": report.status, "alerts": report.alerts or []}
    return {"status": "pending", "alerts": []} if job.status in ("queued", "running") else None


class JobDrift(fields.Nested):
    """A bulk job's ``drift_state``, as a nested object of the job's answer."""

    def get_value(self, obj, attr, accessor=None, default=None):
        return drift_state(obj)


class DriftThresholdsIn(Schema):
    """The organization's own drift thresholds; any left out keep their defaults (unknown keys
    are refused, naming them)."""

    feature_psi = fields.Float(
        allow_nan=False,
        validate=ABOVE_ZERO,
        metadata={"example": 0.25, "description": PSI_DOC.format("feature")},
    )
    prediction_psi = fields.Float(
        allow_nan=False,
        validate=ABOVE_ZERO,
        metadata={"example": 0.25, "description": PSI_DOC.format("prediction")},
    )
    unseen_share = fields.Float(
        allow_nan=False,
        validate=validate.Range(min=0, max=1, min_inclusive=False),
        metadata={
            "example": 0.05,
            "description": "share of a category group's weight (spend, events) on categories unseen "
            "in training above which it alerts",
        },
    )

    @validates_schema
    def _some(self, data, **kwargs) -> None:
        problems = drift_threshold_problems(data)
        if problems:
            raise ValidationError(problems)


class DriftThresholdsOut(Schema):
    feature_psi = fields.Float()
    prediction_psi = fields.Float()
    unseen_share = fields.Float()
    source = fields.String(
        metadata={
            "enum": ["organization", "default"],
            "description": "organization: set with PUT (those left out are the defaults); default: never set, or after DELETE",
        }
    )


class Psi(Schema):
    psi = fields.Float(metadata={"description": "population stability index against the training reference"})
    reading = fields.String(metadata={"enum": ["stable", "moderate shift", "large shift"]})


class Unseen(Schema):
    unseen_share = fields.Float(
        metadata={"description": "share of the group's weight on categories unseen in training"}
    )
    unseen = fields.List(fields.String(), metadata={"description": "the ten heaviest unseen categories"})


class DriftThresholdValues(Schema):
    feature_psi = fields.Float()
    prediction_psi = fields.Float()
    unseen_share = fields.Float()


class DriftReportOut(Schema):
    job_id = fields.String()
    status = fields.String(
        metadata={
            "enum": ["pending", "done", "no_reference", "failed"],
            "description": "pending: the job is queued or running, or its drift task has not run yet "
            "(the figures are null); no_reference: the model keeps no training reference; failed: see error",
        }
    )
    model_version = fields.Integer(allow_none=True, metadata={"description": "the model the job scored with"})
    rows = fields.Integer(allow_none=True, metadata={"description": "customers scored"})
    reference_rows = fields.Integer(
        allow_none=True, metadata={"description": "rows of the training reference"}
    )
    thresholds = fields.Nested(
        DriftThresholdValues, allow_none=True, metadata={"description": "the thresholds it alerted with"}
    )
    features = fields.Dict(keys=fields.String(), values=fields.Nested(Psi), allow_none=True)
    predictions = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(Psi),
        allow_none=True,
        metadata={"description": "churn_probability and spend_total"},
    )
    categories = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(Unseen),
        allow_none=True,
        metadata={
            "description": "category_spend (spend per product category) and event_type (events per type)"
        },
    )
    missing = fields.List(
        fields.String(), allow_none=True, metadata={"description": "reference columns the job did not have"}
    )
    alerts = fields.List(fields.Nested(DriftAlert))
    error = fields.String(allow_none=True)
