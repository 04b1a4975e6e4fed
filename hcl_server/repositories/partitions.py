"""A bulk job's customer partitions (written by the split, marked done by each partition's task)."""

from __future__ import annotations

from sqlalchemy import delete, func, insert

from hcl_server.db import BulkPartition
from hcl_server.extensions import db


def replace(job_id: str, customers: list[int]) -> None:
    """The job's partitions, pending, one per entry of ``customers`` (its customer count)."""
    db.session.execute(delete(BulkPartition).where(BulkPartition.job_id == job_id))
    db.session.execute(
        insert(BulkPartition),
        [
            {"job_id": job_id, "index": i, "status": "pending", "customers": n}
            for i, n in enumerate(customers)
        ],
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
