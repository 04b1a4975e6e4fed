"""A bulk job's customer partitions (written by the split, marked done by each partition's task)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, delete, func, insert, or_, update

from hcl_server.db import BulkPartition
from hcl_server.db.models import utcnow
from hcl_server.extensions import db


def replace(job_id: str, customers: list[int]) -> None:
    """The job's partitions, pending, one per entry of ``customers`` (its customer count); the
    heartbeat of a pending partition is when its task was sent (the reconciler re-sends a lost one)."""
    db.session.execute(delete(BulkPartition).where(BulkPartition.job_id == job_id))
    now = utcnow()
    db.session.execute(
        insert(BulkPartition),
        [
            {"job_id": job_id, "index": i, "status": "pending", "customers": n, "heartbeat_at": now}
            for i, n in enumerate(customers)
        ],
    )


def _is(job_id: str, index: int):
    return and_(BulkPartition.job_id == job_id, BulkPartition.index == index)


def _stale(now, stale_after_s: float):
    return and_(
        BulkPartition.status == "running",
        BulkPartition.heartbeat_at < now - timedelta(seconds=stale_after_s),
    )


def claim(job_id: str, index: int, stale_after_s: float, max_attempts: int) -> int | None:
    """Pending (or running without a heartbeat for ``stale_after_s``, fewer than ``max_attempts``
    times claimed) -> running, counting an attempt: the new attempt number, or None."""
    now = utcnow()
    result = db.session.execute(
        update(BulkPartition)
        .where(
            _is(job_id, index),
            or_(
                BulkPartition.status == "pending",
                and_(_stale(now, stale_after_s), BulkPartition.attempts < max_attempts),
            ),
        )
        .values(status="running", heartbeat_at=now, attempts=BulkPartition.attempts + 1)
        .returning(BulkPartition.attempts),
        execution_options={"synchronize_session": False},
    )
    return result.scalar_one_or_none()


def exhausted(job_id: str, index: int, stale_after_s: float, max_attempts: int) -> bool:
    """Running without a heartbeat for ``stale_after_s`` after ``max_attempts`` claims: every
    worker that took it died."""
    now = utcnow()
    row = db.session.scalar(
        db.select(BulkPartition.id).where(
            _is(job_id, index), _stale(now, stale_after_s), BulkPartition.attempts >= max_attempts
        )
    )
    return row is not None


def touch_pending(job_id: str, index: int) -> None:
    """Restart a pending partition's clock (its task was just sent again); a running one keeps
    its stale heartbeat, by which the new delivery takes it over."""
    db.session.execute(
        update(BulkPartition)
        .where(_is(job_id, index), BulkPartition.status == "pending")
        .values(heartbeat_at=utcnow())
    )


def get(job_id: str, index: int) -> BulkPartition | None:
    """Partition ``index`` of the job."""
    return db.session.scalar(
        db.select(BulkPartition).where(BulkPartition.job_id == job_id, BulkPartition.index == index)
    )


def in_order(job_id: str) -> list[BulkPartition]:
    """The job's partitions by index."""
    return db.session.scalars(
        db.select(BulkPartition).where(BulkPartition.job_id == job_id).order_by(BulkPartition.index)
    ).all()


def count_done(job_id: str) -> int:
    """Partitions of the job that are scored and stored."""
    return db.session.scalar(
        db.select(func.count()).where(BulkPartition.job_id == job_id, BulkPartition.status == "done")
    )


def count_pending(job_id: str) -> int:
    """Partitions of the job not done yet."""
    return db.session.scalar(
        db.select(func.count()).where(BulkPartition.job_id == job_id, BulkPartition.status != "done")
    )
