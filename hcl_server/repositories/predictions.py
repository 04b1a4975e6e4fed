"""Stored per-customer predictions of bulk jobs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete

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


# The columns of a stored row as ``replace_partition`` takes it, in this order.
COLUMNS = (
    "organization_id",
    "job_id",
    "partition",
    "customer_id",
    "churn_probability",
    "risk_segment",
    "spend_total",
    "spend",
    "reasons",
    "created_at",
)


def replace_partition(job_id: str, partition: int, rows: Sequence[tuple]) -> None:
    """Replace a partition's rows: a redelivered partition never duplicates predictions.

    ``rows``: one tuple per customer in ``COLUMNS`` order, ``spend`` and ``reasons`` already as
    JSON text (what the ORM's JSON type would have sent), ``created_at`` a datetime. Stored in
    bulk in the session's transaction (the caller commits): PostgreSQL's COPY, elsewhere (SQLite)
    one executemany of the tuples. Row ids follow the order of ``rows``.
    """
    db.session.execute(
        delete(Prediction).where(Prediction.job_id == job_id, Prediction.partition == partition)
    )
    if not rows:
        return
    conn = db.session.connection()
    if conn.dialect.name == "postgresql":
        # The driver's own connection is the one the session's transaction runs on.
        sql = f"COPY {Prediction.__tablename__} ({', '.join(COLUMNS)}) FROM STDIN"
        with conn.connection.driver_connection.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
        return
    if conn.dialect.paramstyle != "qmark":
        raise NotImplementedError(f"bulk insert of predictions on {conn.dialect.name}")
    # Prebuilt tuples straight to the driver: no per-row statement or JSON work in SQLAlchemy.
    # Datetimes are stored as the column type stores them on this database.
    created = Prediction.__table__.c.created_at.type.dialect_impl(conn.dialect)
    stamp = created.bind_processor(conn.dialect) or (lambda v: v)
    stamps: dict[datetime, object] = {}
    last = len(COLUMNS) - 1
    params = [row[:last] + (stamps.setdefault(row[last], stamp(row[last])),) for row in rows]
    marks = ", ".join(["?"] * len(COLUMNS))
    conn.exec_driver_sql(
        f"INSERT INTO {Prediction.__tablename__} ({', '.join(COLUMNS)}) VALUES ({marks})", params
    )
