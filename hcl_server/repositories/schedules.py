"""Schedules: set, claimed when due, and how their last run went."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, update

from hcl_server.db import Schedule
from hcl_server.extensions import db
from hcl_server.repositories import scoped

_SQL_ONLY = {"synchronize_session": False}


def for_org(org_id: str) -> dict[str, Schedule]:
    """The organization's schedules by kind."""
    return {row.kind: row for row in db.session.scalars(scoped(Schedule, org_id))}


def all_due_candidates() -> list:
    """Every schedule as (id, organization_id, kind, cron, timezone, last_due_at), plain rows that
    outlive a commit."""
    query = db.select(
        Schedule.id,
        Schedule.organization_id,
        Schedule.kind,
        Schedule.cron,
        Schedule.timezone,
        Schedule.last_due_at,
    ).order_by(Schedule.organization_id, Schedule.kind)
    return db.session.execute(query).all()


def claim(schedule_id: str, due: datetime) -> bool:
    """Take the fire time ``due`` (UTC) of a schedule: True for the one caller whose UPDATE moves
    ``last_due_at`` forward to it, False for every other (another beat or worker took it)."""
    result = db.session.execute(
        update(Schedule)
        .where(Schedule.id == schedule_id, or_(Schedule.last_due_at.is_(None), Schedule.last_due_at < due))
        .values(last_due_at=due),
        execution_options=_SQL_ONLY,
    )
    return result.rowcount == 1


def record_run(schedule_id: str, ran_at: datetime, job_id: str | None, error: str | None) -> None:
    """What the run of fire time ``ran_at`` started (a job id) or why it started nothing."""
    db.session.execute(
        update(Schedule)
        .where(Schedule.id == schedule_id)
        .values(last_run_at=ran_at, last_job_id=job_id, last_error=error),
        execution_options=_SQL_ONLY,
    )
