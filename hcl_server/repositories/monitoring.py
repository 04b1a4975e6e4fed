"""What a dashboard reads: the latest bulk jobs, their drift reports, the latest dataset."""

from __future__ import annotations

from hcl_server.db import Dataset, DriftReport, Job
from hcl_server.extensions import db
from hcl_server.repositories import scoped


def latest_bulk_jobs(org_id: str, limit: int) -> list[Job]:
    """The organization's latest succeeded bulk jobs, newest first."""
    query = scoped(Job, org_id).where(Job.kind == "bulk", Job.status == "succeeded")
    return db.session.scalars(query.order_by(Job.finished_at.desc(), Job.id).limit(limit)).all()


def drift_reports_of(org_id: str, job_ids: list[str]) -> dict[str, DriftReport]:
    """The drift reports of these jobs, by job id (a job without one is absent)."""
    if not job_ids:
        return {}
    rows = db.session.scalars(scoped(DriftReport, org_id).where(DriftReport.job_id.in_(job_ids)))
    return {r.job_id: r for r in rows}


def latest_ready_dataset(org_id: str) -> Dataset | None:
    """The organization's newest dataset that was read (profiled) successfully, or None."""
    query = scoped(Dataset, org_id).where(Dataset.status == "succeeded")
    return db.session.scalar(query.order_by(Dataset.created_at.desc()).limit(1))
