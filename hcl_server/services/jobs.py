"""Job state transitions shared by every task: claim, heartbeat, progress, finish, fail (each commits)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from flask import current_app

from hcl_server.celery_app import MAX_PRIORITY
from hcl_server.db import Dataset, Job
from hcl_server.db.models import utcnow
from hcl_server.errors import Conflict, TooManyJobs
from hcl_server.extensions import db
from hcl_server.repositories import jobs
from hcl_server.services import webhooks
from hcl_server.services.heartbeat import Heartbeat, Stopped, check

logger = logging.getLogger(__name__)
PROGRESS_EVERY_S = 2.0
MAX_ATTEMPTS = 3  # deliveries of one job, dataset or partition before a worker death fails it


def stale_after_s(redelivered: bool = False) -> float:
    """Seconds without a heartbeat after which a running row's worker counts as dead.

    A delivery the broker marks redelivered (a prefork child was killed and its task rejected
    back, or Redis restored it from a dead worker) needs only two missed beats: the broker has
    already said the worker that had it is gone. Any other delivery (a reconciler's re-send)
    needs ``JOB_STALE_S``.
    """
    config = current_app.config
    return 2 * float(config["JOB_HEARTBEAT_S"]) if redelivered else float(config["JOB_STALE_S"])


def died_message(attempts: int, what: str = "the worker running it", stage: str | None = None) -> str:
    """The error of a row whose worker died ``attempts`` times."""
    where = f" (last stage: {stage})" if stage else ""
    return (
        f"{what} stopped unexpectedly {attempts} times{where}: killed, out of memory or crashed; "
        "it is not tried again"
    )


def claim(model: type[Job] | type[Dataset], row_id: str, redelivered: bool = False) -> int | None:
    """Move a queued row to running with a conditional UPDATE: the attempt number this delivery
    holds it with (the fencing token its heartbeat names), or None when it must skip the row.

    A running row whose heartbeat is older than ``stale_after_s(redelivered)`` is taken over: its
    worker died. A redelivered task waits up to that long for the old heartbeat to go stale, so
    a kill -9 of the prefork child is taken over within two beats, while a worker that is still
    alive keeps its row. A row whose workers died ``MAX_ATTEMPTS`` times is failed instead, with
    the reason: a job that kills every worker that runs it (a native crash, memory beyond the
    machine's) must end, not come back forever.
    """

    def try_once(stale_s: float) -> int | None:
        row = jobs.get(model, row_id)
        if row is None or row.status not in ("queued", "running"):
            return SKIP
        if row.attempts < MAX_ATTEMPTS:
            attempt = jobs.claim(model, row_id, stale_s)
            db.session.commit()
            return attempt
        error = died_message(row.attempts, stage=getattr(row, "stage", None))
        gave_up = jobs.give_up(model, row_id, error, stale_s)
        if gave_up:
            webhooks.job_ended(row, "failed", error)
        db.session.commit()
        if gave_up:
            logger.error("%s %s failed: %s", model.__tablename__, row_id, error)
            return SKIP
        return None

    return claim_patiently(try_once, redelivered)


SKIP = 0  # what a claim attempt answers when this delivery must skip its row for good


def claim_patiently(try_once: Callable[[float], int | None], redelivered: bool) -> int | None:
    """Call ``try_once(stale_s)`` until it answers an attempt number (claimed) or ``SKIP``; None
    ("not yet": the row is held by a heartbeat still fresh) is tried again only by a redelivered
    task, every second or so, until ``stale_after_s(True)`` has passed. Returns the attempt, or
    None when this delivery must skip the row."""
    stale_s = stale_after_s(redelivered)
    deadline = time.monotonic() + (stale_s + 1 if redelivered else 0)
    while True:
        attempt = try_once(stale_s)
        if attempt is not None:
            return attempt or None
        if time.monotonic() >= deadline:
            return None
        db.session.expire_all()
        time.sleep(min(1.0, stale_s / 4))


def claim_and_load(
    model: type[Job] | type[Dataset], row_id: str, redelivered: bool = False
) -> tuple[Job | Dataset, int] | None:
    """The row and this delivery's attempt number (see ``claim``), or None to skip it."""
    attempt = claim(model, row_id, redelivered)
    return None if attempt is None else (jobs.get(model, row_id), attempt)


def heartbeat_for(row: Job | Dataset, attempt: int) -> Heartbeat:
    """The heartbeat of a row this delivery claimed with ``attempt``."""
    model = type(row)
    return Heartbeat(model, model.id == row.id, model.status == "running", model.attempts == attempt)


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
        """Record the stage and progress (0 to 1). Raises Stopped once the job was cancelled,
        failed or taken over by another delivery: the step then ends without writing more."""
        check()
        now = time.monotonic()
        if stage == self.stage and now - self.last < PROGRESS_EVERY_S:
            return
        self.stage, self.last = stage, now
        written = jobs.set_progress(self.job_id, stage, round(min(max(fraction, 0.0), 1.0), 4))
        db.session.commit()
        if not written:
            raise Stopped(f"job {self.job_id} is no longer running")


def finish(job: Job, status: str, *, error: str | None = None, result: dict | None = None) -> None:
    """Record the outcome of a job, with its webhook event, and commit."""
    job.status = status
    job.error = error
    job.finished_at = utcnow()
    if result is not None:
        job.result = result
    if status == "succeeded":
        job.progress, job.stage = 1.0, "done"
    webhooks.job_ended(job, status, error)
    db.session.commit()


def fail(row: Job | Dataset, error: str) -> None:
    """Undo the failed step's writes and record ``error`` on a row still running, with its webhook
    event (a job cancelled meanwhile stays cancelled); commits."""
    db.session.rollback()
    db.session.refresh(row)
    if row.status != "running":
        return
    if isinstance(row, Job):
        finish(row, "failed", error=error)
    else:
        row.status, row.error = "failed", error
        webhooks.job_ended(row, "failed", error)
        db.session.commit()


def cancel_job(job_id: str, what: str) -> None:
    """Cancel a queued or running job (its tasks see the status and stop), with its webhook event;
    commits. Raises Conflict when it had already finished."""
    cancelled = jobs.cancel(job_id)
    if cancelled:
        webhooks.job_ended(jobs.get(Job, job_id), "cancelled")
    db.session.commit()
    if not cancelled:
        status = db.session.scalar(db.select(Job.status).where(Job.id == job_id))
        raise Conflict(f"{what} {job_id} is already {status}")


def admit(org_id: str) -> int:
    """Admit one more job or dataset of the organization: its priority (0 first, 9 last), the
    number of its own jobs already queued or running, so a second organization's first job is
    taken before the first organization's backlog.

    Raises TooManyJobs (429) at ``ORG_MAX_ACTIVE_JOBS`` queued and running jobs and datasets.
    Checked before the upload is stored; requests that arrive together may pass the limit by
    the number in flight.
    """
    active = jobs.count_active(org_id)
    limit = int(current_app.config["ORG_MAX_ACTIVE_JOBS"])
    if active >= limit:
        raise TooManyJobs(
            f"this organization already has {active} jobs and datasets queued or running "
            f"(the limit is {limit}); send it again when one has finished",
            {"active": active, "limit": limit},
        )
    return min(MAX_PRIORITY, active)
