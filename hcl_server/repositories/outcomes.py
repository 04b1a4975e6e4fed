"""Realized outcomes of stored predictions, and the stored predictions they are computed from."""

from __future__ import annotations

import pandas as pd

from hcl_server.db import Job, Outcome, Prediction, ShadowPrediction
from hcl_server.extensions import db
from hcl_server.repositories import scoped

PREDICTION_COLUMNS = ("customer_id", "churn_probability", "spend_total", "spend")


def unscored_jobs(org_id: str, source_id: str) -> list[Job]:
    """The organization's succeeded bulk jobs other than ``source_id`` whose production predictions
    have no outcome from that source yet, oldest first."""
    done = db.select(Outcome.job_id).where(
        Outcome.organization_id == org_id, Outcome.source_id == source_id, Outcome.shadow.is_(False)
    )
    query = scoped(Job, org_id).where(
        Job.kind == "bulk",
        Job.status == "succeeded",
        Job.id != source_id,
        Job.model_version_id.is_not(None),
        Job.id.not_in(done),
    )
    return list(db.session.scalars(query.order_by(Job.created_at, Job.id)))


def has_outcome(job_id: str, model_version_id: str, source_id: str) -> bool:
    """Whether that version's predictions of that job are already scored against that source."""
    return (
        db.session.scalar(
            db.select(Outcome.id).where(
                Outcome.job_id == job_id,
                Outcome.model_version_id == model_version_id,
                Outcome.source_id == source_id,
            )
        )
        is not None
    )


def prediction_rows(job_id: str) -> pd.DataFrame:
    """A job's stored production predictions, in one SELECT: customer_id, churn_probability,
    spend_total, spend (a dict per row)."""
    cols = [getattr(Prediction, c) for c in PREDICTION_COLUMNS]
    rows = db.session.execute(db.select(*cols).where(Prediction.job_id == job_id)).all()
    return pd.DataFrame(rows, columns=list(PREDICTION_COLUMNS))


def shadow_versions(job_id: str) -> list[str]:
    """Ids of the model versions scored in shadow on a job."""
    query = db.select(ShadowPrediction.model_version_id).where(ShadowPrediction.job_id == job_id).distinct()
    return sorted(db.session.scalars(query))


def shadow_rows(job_id: str, model_version_id: str) -> pd.DataFrame:
    """One shadow version's predictions of a job, in one SELECT (the columns of ``prediction_rows``)."""
    cols = [getattr(ShadowPrediction, c) for c in PREDICTION_COLUMNS]
    rows = db.session.execute(
        db.select(*cols).where(
            ShadowPrediction.job_id == job_id, ShadowPrediction.model_version_id == model_version_id
        )
    ).all()
    return pd.DataFrame(rows, columns=list(PREDICTION_COLUMNS))


def for_version(org_id: str, model_version_id: str) -> list[Outcome]:
    """The organization's outcomes of one version's predictions, newest as-of date first."""
    query = scoped(Outcome, org_id).where(Outcome.model_version_id == model_version_id)
    return list(db.session.scalars(query.order_by(Outcome.as_of.desc(), Outcome.created_at.desc())))


def for_job(org_id: str, job_id: str) -> list[Outcome]:
    """The organization's outcomes of one bulk job (production first, then shadow versions)."""
    query = scoped(Outcome, org_id).where(Outcome.job_id == job_id)
    return list(db.session.scalars(query.order_by(Outcome.shadow, Outcome.created_at)))


def jobs_of_version(org_id: str, model_version_id: str) -> list[Job]:
    """The organization's succeeded bulk jobs scored by the version, or by another version with
    this one in shadow."""
    shadowed = Job.params["shadow_model_version_id"].as_string() == model_version_id
    query = scoped(Job, org_id).where(
        Job.kind == "bulk",
        Job.status == "succeeded",
        (Job.model_version_id == model_version_id) | shadowed,
    )
    return list(db.session.scalars(query.order_by(Job.created_at)))
