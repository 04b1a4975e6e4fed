"""Jobs and datasets as rows of work: lookups, the claim, progress, cancel and finish UPDATEs.

A claim or a state change is a conditional UPDATE (superset's execution claim): whichever
delivery or request matches the condition first wins, and the others see ``rowcount == 0``.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, func, or_, update
from sqlalchemy.orm import joinedload, load_only, selectinload

from hcl_server.db import Dataset, DriftReport, Job, ModelVersion, Organization
from hcl_server.db.models import utcnow
from hcl_server.errors import NotFound
from hcl_server.extensions import db
from hcl_server.repositories import count, get_scoped, scoped

ACTIVE = ("queued", "running")

WorkRow = type[Job] | type[Dataset]
# A pure SQL change: the service's commit expires the session's copy of the row.
_SQL_ONLY = {"synchronize_session": False}


def get(model: WorkRow, row_id: str) -> Job | Dataset | None:
    """A job or dataset by id, for the worker (which is handed ids, not organizations)."""
    return db.session.get(model, row_id)


def _with_version():
    """SELECT of jobs with their model version's number loaded in the same query."""
    return db.select(Job).options(
        joinedload(Job.model_version).options(load_only(ModelVersion.id, ModelVersion.version))
    )


def _drift_state():
    """A bulk job's drift report status and alerts, loaded with the jobs (one query per page)."""
    return selectinload(Job.drift_report).options(load_only(DriftReport.status, DriftReport.alerts))


def get_for_org(org_id: str, job_id: str, kind: str, what: str) -> Job:
    """The organization's job of this kind, its model version loaded; NotFound otherwise."""
    query = _with_version().where(Job.organization_id == org_id)
    if kind == "bulk":
        query = query.options(_drift_state())
    job = get_scoped(Job, org_id, job_id, what, query)
    if job.kind != kind:
        raise NotFound(f"{what} {job_id} not found")
    return job


def page_for_org(org_id: str, kind: str, limit: int, offset: int) -> tuple[list[Job], int]:
    """The organization's jobs of a kind, newest first: (one page, total)."""
    query = _with_version().where(Job.organization_id == org_id, Job.kind == kind)
    if kind == "bulk":
        query = query.options(_drift_state())
    total = count(scoped(Job, org_id).where(Job.kind == kind))
    rows = db.session.scalars(query.order_by(Job.created_at.desc()).limit(limit).offset(offset))
    return rows.all(), total


def latest_succeeded_bulk(org_id: str, limit: int) -> list[Job]:
    """The organization's newest succeeded bulk jobs (by creation, newest first), each with its
    drift report's status and alerts loaded."""
    query = (
        scoped(Job, org_id)
        .where(Job.kind == "bulk", Job.status == "succeeded")
        .options(_drift_state())
        .order_by(Job.created_at.desc(), Job.id)
    )
    return db.session.scalars(query.limit(limit)).all()


def last_sign_of_life(model):
    """When the row's worker last wrote: its heartbeat, else (a row from before heartbeats, or one
    not claimed yet) its last update."""
    return func.coalesce(model.heartbeat_at, model.updated_at)


def _stale(model: WorkRow, now, stale_after_s: float):
    """Running, but no heartbeat for ``stale_after_s``: its worker died."""
    return and_(model.status == "running", last_sign_of_life(model) < now - timedelta(seconds=stale_after_s))


def claim(model: WorkRow, row_id: str, stale_after_s: float) -> int | None:
    """Queued (or running without a heartbeat for ``stale_after_s``) -> running, counting an
    attempt: the new attempt number, or None when the row is not claimable."""
    now = utcnow()
    values = {"status": "running", "updated_at": now, "heartbeat_at": now, "attempts": model.attempts + 1}
    if model is Job:
        values["started_at"] = now
    result = db.session.execute(
        update(model)
        .where(model.id == row_id, or_(model.status == "queued", _stale(model, now, stale_after_s)))
        .values(**values)
        .returning(model.attempts),
        execution_options=_SQL_ONLY,
    )
    return result.scalar_one_or_none()


def give_up(model: WorkRow, row_id: str, error: str, stale_after_s: float) -> bool:
    """A stale running row -> failed with ``error``; False if it is not stale."""
    now = utcnow()
    values = {"status": "failed", "updated_at": now, "error": error}
    if model is Job:
        values["finished_at"] = now
    result = db.session.execute(
        update(model).where(model.id == row_id, _stale(model, now, stale_after_s)).values(**values),
        execution_options=_SQL_ONLY,
    )
    return result.rowcount == 1


def set_progress(job_id: str, stage: str, fraction: float) -> bool:
    """A running job's stage and progress (0 to 1); False when the job is no longer running."""
    result = db.session.execute(
        update(Job).where(Job.id == job_id, Job.status == "running").values(stage=stage, progress=fraction)
    )
    return result.rowcount == 1


def cancel(job_id: str) -> bool:
    """A queued or running job -> cancelled; False if it had already finished."""
    result = db.session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.in_(("queued", "running")))
        .values(status="cancelled", finished_at=utcnow(), stage="cancelled")
    )
    return result.rowcount == 1


def move_stage(job_id: str, stage: str, to: str) -> bool:
    """A running job at ``stage`` -> ``to`` (its heartbeat restarts: the next step is sent now);
    False if another delivery moved it first."""
    result = db.session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "running", Job.stage == stage)
        .values(stage=to, heartbeat_at=utcnow())
    )
    return result.rowcount == 1


def succeed(job_id: str, result: dict, warnings: list[str], **values) -> bool:
    """A running job -> succeeded with its result (and any other column in ``values``); False if
    it was cancelled or failed meanwhile."""
    done = db.session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "running")
        .values(
            status="succeeded",
            stage="done",
            progress=1.0,
            result=result,
            warnings=warnings,
            finished_at=utcnow(),
            **values,
        )
    )
    return done.rowcount == 1


def count_active(org_id: str, *, lock: bool = False) -> int:
    """The organization's queued and running jobs and datasets. With ``lock`` the organization's
    row is locked first (PostgreSQL; SQLite writers are serialized anyway), so two requests at
    once cannot both take the last free place."""
    if lock:
        db.session.execute(
            db.select(Organization.id).where(Organization.id == org_id).with_for_update()
        ).all()
    running_jobs = count(scoped(Job, org_id).where(Job.status.in_(ACTIVE)))
    return running_jobs + count(scoped(Dataset, org_id).where(Dataset.status.in_(ACTIVE)))
