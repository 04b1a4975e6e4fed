"""Stored per-customer predictions of bulk jobs."""

from __future__ import annotations

from sqlalchemy import delete, insert

from hcl_server.db import Job, Prediction
from hcl_server.extensions import db
from hcl_server.repositories import count, scoped


def page_for_job(
    org_id: str, job_id: str, risk_segment: str | None, sort: str, limit: int, offset: int
) -> tuple[list[Prediction], int]:
    """One page of a job's predictions, optionally of one segment, sorted by ``sort`` (a column
    name, "-" first for descending; ties by row id): (rows, total)."""
    query = scoped(Prediction, org_id).where(Prediction.job_id == job_id)
    if risk_segment:
        query = query.where(Prediction.risk_segment == risk_segment)
    total = count(query)
    column = getattr(Prediction, sort.lstrip("-"))
    order = column.desc() if sort.startswith("-") else column.asc()
    rows = db.session.scalars(query.order_by(order, Prediction.id).limit(limit).offset(offset))
    return rows.all(), total


def latest_for_customer(org_id: str, customer_id: str) -> Prediction | None:
    """The customer's prediction from the most recently finished succeeded job that scored them."""
    if "\x00" in customer_id:
        return None  # no stored id holds a NUL character, and PostgreSQL refuses one in a query
    return db.session.scalar(
        scoped(Prediction, org_id)
        .join(Job, Job.id == Prediction.job_id)
        .where(Prediction.customer_id == customer_id, Job.status == "succeeded")
        .order_by(Job.finished_at.desc(), Prediction.id.desc())
        .limit(1)
    )


def replace_partition(job_id: str, partition: int, records: list[dict]) -> None:
    """Replace a partition's rows: a redelivered partition never duplicates predictions."""
    db.session.execute(
        delete(Prediction).where(Prediction.job_id == job_id, Prediction.partition == partition)
    )
    if records:
        db.session.execute(insert(Prediction), records)
