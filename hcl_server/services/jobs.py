"""Job state transitions shared by every task: claim, progress, finish."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from sqlalchemy import and_, or_, update

from hcl_server.db import Dataset, Job
from hcl_server.db.models import utcnow
from hcl_server.extensions import db

logger = logging.getLogger(__name__)
PROGRESS_EVERY_S = 2.0


STALE_AFTER_S = 120


def claim(model: type[Job] | type[Dataset], row_id: str, stale_after_s: float = STALE_AFTER_S) -> bool:
    """Move a queued row to running with a conditional UPDATE; False if another delivery has it.

    A row left running without an update for ``stale_after_s`` is taken over: the broker hands a
    task to another worker only after its visibility timeout, i.e. when the first worker died.
    """
    now = utcnow()
    values = {"status": "running", "updated_at": now}
    if model is Job:
        values["started_at"] = now
    stale = and_(model.status == "running", model.updated_at < now - timedelta(seconds=stale_after_s))
    result = db.session.execute(
        update(model).where(model.id == row_id, or_(model.status == "queued", stale)).values(**values),
        execution_options={"synchronize_session": False},  # a pure SQL claim; the commit expires the session
    )
    db.session.commit()
    return result.rowcount == 1


class ProgressWriter:
    """Writes stage changes at once and progress at most every few seconds."""

    def __init__(self, job_id: str):
        self.job_id = job_id
        self.stage: str | None = None
        self.last = 0.0

    def __call__(self, stage: str, fraction: float) -> None:
        now = time.monotonic()
        if stage == self.stage and now - self.last < PROGRESS_EVERY_S:
            return
        self.stage, self.last = stage, now
        db.session.execute(
            update(Job)
            .where(Job.id == self.job_id, Job.status == "running")
            .values(stage=stage, progress=round(min(max(fraction, 0.0), 1.0), 4))
        )
        db.session.commit()


def finish(job: Job, status: str, *, error: str | None = None, result: dict | None = None) -> None:
    """Record the outcome of a job and commit."""
    job.status = status
    job.error = error
    job.finished_at = utcnow()
    if result is not None:
        job.result = result
    if status == "succeeded":
        job.progress, job.stage = 1.0, "done"
    db.session.commit()
