"""Bulk jobs' drift reports (one per job, written by the job's drift task) and the partitions'
drift counts they are summed from."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import joinedload, load_only

from hcl_server.db import BulkPartition, DriftReport, ModelVersion
from hcl_server.db.models import utcnow
from hcl_server.extensions import db
from hcl_server.repositories import scoped


def add_pending(job_id: str, org_id: str, model_version_id: str | None) -> None:
    """A pending report for the job, unless it has one (a merge that ran twice adds one row)."""
    if db.session.get(DriftReport, job_id) is None:
        db.session.add(
            DriftReport(
                job_id=job_id, organization_id=org_id, model_version_id=model_version_id, status="pending"
            )
        )


def get(job_id: str) -> DriftReport | None:
    """The job's report, for the worker (which is handed ids, not organizations)."""
    return db.session.get(DriftReport, job_id)


def get_for_org(org_id: str, job_id: str) -> DriftReport | None:
    """The organization's report of the job, its model version's number loaded; None without one."""
    if "\x00" in job_id:  # no stored id holds a NUL (PostgreSQL refuses one even as a parameter)
        return None
    query = (
        scoped(DriftReport, org_id)
        .where(DriftReport.job_id == job_id)
        .options(joinedload(DriftReport.model_version).options(load_only(ModelVersion.version)))
    )
    return db.session.scalar(query)


def latest_finished_for_version(org_id: str, model_version_id: str) -> DriftReport | None:
    """The organization's newest report that is no longer pending (done, failed or no_reference)
    of a job scored by the version, or None."""
    query = scoped(DriftReport, org_id).where(
        DriftReport.model_version_id == model_version_id, DriftReport.status != "pending"
    )
    return db.session.scalar(query.order_by(DriftReport.created_at.desc()).limit(1))


def finish(job_id: str, status: str, report: dict | None, alerts: list, error: str | None) -> bool:
    """A pending report -> ``status`` with its body; False when another delivery finished it first."""
    result = db.session.execute(
        update(DriftReport)
        .where(DriftReport.job_id == job_id, DriftReport.status == "pending")
        .values(status=status, report=report, alerts=alerts, error=error, updated_at=utcnow()),
        execution_options={"synchronize_session": False},
    )
    return result.rowcount == 1


def stale_pending(stale_before) -> list[str]:
    """Ids of the jobs whose report is pending and was last touched before ``stale_before``."""
    return db.session.scalars(
        db.select(DriftReport.job_id).where(
            DriftReport.status == "pending", DriftReport.updated_at < stale_before
        )
    ).all()


def touch(job_id: str) -> None:
    """Restart a pending report's clock (its task was just sent again)."""
    db.session.execute(
        update(DriftReport).where(DriftReport.job_id == job_id).values(updated_at=utcnow()),
        execution_options={"synchronize_session": False},
    )


def partition_counts(job_id: str) -> list[tuple[int, dict | None]]:
    """(index, drift counts) of each of the job's partitions, by index."""
    return db.session.execute(
        db.select(BulkPartition.index, BulkPartition.drift_counts)
        .where(BulkPartition.job_id == job_id)
        .order_by(BulkPartition.index)
    ).all()
