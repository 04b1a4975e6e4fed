"""Job state transitions shared by every task: claim, progress, finish, fail (each commits)."""

from __future__ import annotations

import logging
import time

from hcl_server.db import Dataset, Job
from hcl_server.db.models import utcnow
from hcl_server.extensions import db
from hcl_server.repositories import jobs

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
    row = jobs.get(model, row_id)
    if row is not None and row.attempts >= MAX_ATTEMPTS:
        error = died_message(row.attempts, stage=getattr(row, "stage", None))
        gave_up = jobs.give_up(model, row_id, error, stale_after_s)
        db.session.commit()
        if gave_up:
            logger.error("%s %s failed: %s", model.__tablename__, row_id, error)
        return False
    claimed = jobs.claim(model, row_id, stale_after_s)
    db.session.commit()
    return claimed


def claim_and_load(model: type[Job] | type[Dataset], row_id: str) -> Job | Dataset | None:
    """The row, claimed for this delivery (see ``claim``), or None when this delivery must skip it."""
    return jobs.get(model, row_id) if claim(model, row_id) else None


def running_job(job_id: str) -> Job | None:
    """The job while it runs; None once it is cancelled, failed or gone (its tasks then stop)."""
    job = jobs.get(Job, job_id)
    return job if job is not None and job.status == "running" else None


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
        jobs.set_progress(self.job_id, stage, round(min(max(fraction, 0.0), 1.0), 4))
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


def fail(row: Job | Dataset, error: str) -> None:
    """Undo the failed step's writes and record ``error`` on a row still running (a job cancelled
    meanwhile stays cancelled)."""
    db.session.rollback()
    db.session.refresh(row)
    if row.status != "running":
        return
    if isinstance(row, Job):
        finish(row, "failed", error=error)
    else:
        row.status, row.error = "failed", error
        db.session.commit()
