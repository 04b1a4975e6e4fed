"""An organization's schedules (retrain, rescore: cron expressions in its time zone) and the pass
that runs the due ones, called by Celery beat every SCHEDULES_EVERY_S (tasks/schedules.py).

A schedule fires at the latest fire time not after now that is later than its ``last_due_at``.
Only that latest time is compared, so several fire times missed during an outage give one run,
not one per missed time; setting or changing a schedule moves ``last_due_at`` to now, so fire
times before it never run. The fire time is claimed with a conditional UPDATE before the run
starts: of several beats or workers passing at once, one starts it (a process killed between the
claim and the job's commit loses that run; the next fire time runs as usual).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import cronsim
from sqlalchemy.exc import IntegrityError

from hcl_server.db import Job, Schedule
from hcl_server.db.models import SCHEDULE_KINDS, utcnow
from hcl_server.db.params import BulkParams
from hcl_server.errors import Conflict, DomainError, Unprocessable
from hcl_server.extensions import db
from hcl_server.repositories import datasets, jobs, schedules
from hcl_server.services.bulk import StoredFile, create_bulk_job_from_stored
from hcl_server.services.training import create_training_job

logger = logging.getLogger(__name__)
SCHEDULED = " (scheduled)"


def cron_problem(expr: str) -> str | None:
    """Why ``expr`` is not a 5-field cron expression cronsim can run (None when it is)."""
    try:
        cronsim.CronSim(expr, datetime.now(UTC))
    except (cronsim.CronSimError, ValueError, OverflowError) as exc:
        return f"not a cron expression of 5 fields (minute hour day month weekday): {exc}"
    return None


def timezone_problem(name: str) -> str | None:
    """Why ``name`` is not an IANA time zone, e.g. Europe/Berlin (None when it is)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin or UTC"
    return None


def schedule_problems(body: dict) -> dict:
    """What is wrong with a PUT body ``{kind: {cron, timezone} or null}``, by kind and field
    (empty when it is valid)."""
    problems: dict = {}
    for kind, schedule in body.items():
        if kind not in SCHEDULE_KINDS:
            problems[kind] = [f"unknown schedule; the schedules are {', '.join(SCHEDULE_KINDS)}"]
            continue
        if schedule is None:
            continue
        found = {
            "cron": cron_problem(schedule.get("cron") or ""),
            "timezone": timezone_problem(schedule.get("timezone") or ""),
        }
        if any(found.values()):
            problems[kind] = {name: [text] for name, text in found.items() if text}
    return problems


def latest_fire(cron: str, timezone: str, now: datetime) -> datetime | None:
    """The schedule's latest fire time not after ``now``, in UTC (None: none in 50 years)."""
    # cronsim's reverse iteration starts one minute before the minute it is given.
    start = (now + timedelta(minutes=1)).astimezone(ZoneInfo(timezone))
    try:
        return next(cronsim.CronSim(cron, start, reverse=True)).astimezone(UTC)
    except StopIteration:
        return None


def next_fire(cron: str, timezone: str, now: datetime) -> datetime | None:
    """The schedule's first fire time after ``now``, in UTC (None: none in 50 years)."""
    try:
        return next(cronsim.CronSim(cron, now.astimezone(ZoneInfo(timezone)))).astimezone(UTC)
    except StopIteration:
        return None


def get_schedules(org_id: str, now: datetime | None = None) -> dict:
    """``{retrain, rescore}``: each ``{cron, timezone, next_run_at, last_run_at, last_job_id,
    last_error}``, or None when the organization has not set it."""
    now = now or utcnow()
    rows = schedules.for_org(org_id)
    return {kind: _shown(rows[kind], now) if kind in rows else None for kind in SCHEDULE_KINDS}


def _shown(row: Schedule, now: datetime) -> dict:
    return {
        "cron": row.cron,
        "timezone": row.timezone,
        "next_run_at": next_fire(row.cron, row.timezone, now),
        "last_run_at": _aware(row.last_run_at),
        "last_job_id": row.last_job_id,
        "last_error": row.last_error,
    }


def set_schedules(org_id: str, body: dict) -> dict:
    """Set the kinds given in ``body`` (``{kind: {cron, timezone}}``; null removes that kind);
    kinds not in the body are left as they are. A new or changed schedule runs from its next fire
    time after now. Answers what ``get_schedules`` answers.

    Raises Unprocessable for an unknown kind, cron expression or time zone, Conflict when another
    request set the same schedule at the same moment."""
    problems = schedule_problems(body)
    if problems:
        raise Unprocessable("the schedules are not valid", details={"json": problems})
    now = utcnow()
    rows = schedules.for_org(org_id)
    for kind, wanted in body.items():
        row = rows.get(kind)
        if wanted is None:
            if row is not None:
                db.session.delete(row)
        elif row is None:
            db.session.add(Schedule(organization_id=org_id, kind=kind, last_due_at=now, **_fields(wanted)))
        elif (row.cron, row.timezone) != (wanted["cron"], wanted["timezone"]):
            row.cron, row.timezone, row.last_due_at = wanted["cron"], wanted["timezone"], now
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(
            "the schedules were changed by another request at the same time; send it again"
        ) from None
    return get_schedules(org_id, now)


def _fields(wanted: dict) -> dict:
    return {"cron": wanted["cron"], "timezone": wanted["timezone"]}


def run_due(now: datetime | None = None) -> Counter:
    """Start every schedule whose latest fire time (not after ``now``) has not run yet; commits.

    One organization's failure never stops the others: it is recorded in its ``last_error`` and
    logged. Returns how many schedules ended how: started, failed, taken (claimed by another
    process), error (not even recorded).
    """
    now = now or utcnow()
    outcomes: Counter = Counter()
    for row in schedules.all_due_candidates():
        try:
            outcome = _run_one(row, now)
        except Exception:
            db.session.rollback()
            logger.exception("schedule %s %s (org %s) could not run", row.kind, row.id, row.organization_id)
            outcome = "error"
        if outcome:
            outcomes[outcome] += 1
    return outcomes


def _run_one(row, now: datetime) -> str | None:
    """Claim and start one schedule's due fire time; the outcome's name, or None when not due."""
    due = latest_fire(row.cron, row.timezone, now)
    if due is None or (row.last_due_at is not None and due <= _aware(row.last_due_at)):
        return None
    claimed = schedules.claim(row.id, due)
    db.session.commit()
    if not claimed:
        return "taken"
    where = {"schedule_id": row.id, "org_id": row.organization_id}
    try:
        job = ACTIONS[row.kind](row.organization_id)
    except DomainError as exc:
        error = exc.message
    except Exception as exc:
        logger.exception("schedule %s (org %s) failed to start", row.kind, row.organization_id, extra=where)
        error = f"unexpected error: {exc}"
    else:
        schedules.record_run(row.id, due, job.id, None)
        db.session.commit()
        logger.info("schedule %s (org %s) started job %s", row.kind, row.organization_id, job.id, extra=where)
        return "started"
    db.session.rollback()
    schedules.record_run(row.id, due, None, error)
    db.session.commit()
    logger.warning(
        "schedule %s (org %s) started nothing: %s", row.kind, row.organization_id, error, extra=where
    )
    return "failed"


def _retrain(org_id: str) -> Job:
    """A training job on the organization's latest dataset that was read."""
    dataset = datasets.latest_succeeded(org_id)
    if dataset is None:
        raise Conflict("no dataset to retrain on: upload one with POST /api/v1/datasets")
    return create_training_job(org_id, {"dataset_id": dataset.id, "trigger": "schedule"})


def _rescore(org_id: str) -> Job:
    """A bulk job over the file of the organization's latest succeeded bulk job, with the current
    production model and the same reading options and as_of."""
    previous = next(iter(jobs.latest_succeeded_bulk(org_id, 1)), None)
    if previous is None:
        raise Conflict("no bulk job has succeeded yet: there is no file to score again")
    params = BulkParams.from_dict(previous.params)
    stored = StoredFile(params.filename, params.storage_key, params.size_bytes)
    name = params.name.removesuffix(SCHEDULED) + SCHEDULED
    return create_bulk_job_from_stored(org_id, stored, name, params.as_of, params.read_options)


ACTIONS = {"retrain": _retrain, "rescore": _rescore}


def _aware(value: datetime | None) -> datetime | None:
    """SQLite gives timezone-aware columns back without their zone (they are stored in UTC)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
