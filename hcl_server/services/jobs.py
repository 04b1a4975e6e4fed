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
MAX_ATTEMPTS = 3  # deliveries of one job, dataset or partition before a worker death fails it


def died_message(attempts: int, what: str = "the worker running it", stage: str | None = None) -> str:
    """The error of a row whose worker died ``attempts`` times."""
    where = f" (last stage: {stage})" if stage else ""
    return (
        f"{what} stopped unexpectedly {attempts} times{where}: killed, out of memory or crashed; "
        "it is not tried again"
    )


def claim(model: type[Job] | type[Dataset], row_id: str, stale_after_s: float = STALE_AFTER_S) -> bool:
    """Move a queued row to running with a conditional UPDATE; False if another delivery has it.

    A row left running without an update for ``stale_after_s`` is taken over: the broker hands a
    task to another worker only after its visibility timeout, i.e. when the first worker died.
    Each claim counts an attempt. A row whose workers died ``MAX_ATTEMPTS`` times is failed
    instead, with the reason: a job that kills every worker that runs it (a native crash, memory
    beyond the machine's) must end, not come back forever.
    """
    now = utcnow()
    stale = and_(model.status == "running", model.updated_at < now - timedelta(seconds=stale_after_s))
    row = db.session.get(model, row_id)
    if row is not None and row.attempts >= MAX_ATTEMPTS:
        values = {"status": "failed", "updated_at": now}
        values["error"] = died_message(row.attempts, stage=getattr(row, "stage", None))
        if model is Job:
            values["finished_at"] = now
        gave_up = db.session.execute(
            update(model).where(model.id == row_id, stale).values(**values),
            execution_options={"synchronize_session": False},
        )
        db.session.commit()
        if gave_up.rowcount:
            logger.error("%s %s failed: %s", model.__tablename__, row_id, values["error"])
        return False
    values = {"status": "running", "updated_at": now, "attempts": model.attempts + 1}
    if model is Job:
        values["started_at"] = now
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
