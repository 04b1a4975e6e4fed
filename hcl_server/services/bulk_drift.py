"""A bulk job's drift against its model's training reference, measured after the job succeeded.

Each partition keeps its rows per reference bin (``BulkPartition.drift_counts``, written with its
predictions by services.bulk_scoring); the merge adds a pending ``DriftReport`` in the
transaction that succeeds the job and then sends the drift task, which sums the partitions'
counts and writes the report (ml_pipeline.monitoring.drift.report) with the organization's
thresholds. The task is safe to run twice: it writes only a pending report, through a conditional
UPDATE; the reconciler sends it again for a report left pending (services/reconcile.py).
"""

from __future__ import annotations

import logging
import time

from hcl_server.celery_app import MAX_PRIORITY, enqueue_later
from hcl_server.db import Job
from hcl_server.errors import Conflict, NotFound, Unavailable
from hcl_server.extensions import db
from hcl_server.repositories import drift_reports, jobs, model_versions, organizations
from hcl_server.services.scoring import bundle_for
from ml_pipeline.errors import PipelineError
from ml_pipeline.monitoring.drift import DEFAULT_THRESHOLDS, report, sum_counts

logger = logging.getLogger(__name__)
DRIFT_TASK = "hcl.bulk.drift"
# Last: nobody waits on it (the job has succeeded and its files are ready).
DRIFT_PRIORITY = MAX_PRIORITY
INTERNAL_ERROR = "internal error while measuring drift"


def expect_report(job: Job) -> None:
    """Add the job's pending drift report to the session (the merge commits it with the job's
    success, so the reconciler finds it pending even if the task is never sent)."""
    drift_reports.add_pending(job.id, job.organization_id, job.model_version_id)


def send(job_id: str) -> bool:
    """Send the job's drift task (after the pending report is committed); False when the broker
    is down: the reconciler sends it later."""
    return enqueue_later(DRIFT_TASK, job_id, priority=DRIFT_PRIORITY)


def thresholds_for(org_id: str) -> dict:
    """The drift thresholds the organization's reports use: its own over the defaults."""
    return {**DEFAULT_THRESHOLDS, **(organizations.drift_thresholds(org_id) or {})}


def measure(job_id: str) -> None:
    """Write the pending drift report of a succeeded bulk job; commits.

    ``done`` with the report, ``no_reference`` when the job's model keeps no training reference
    (a bundle from before references, or the short-log fallback), ``failed`` with the error when
    the counts do not make a report. A report that is not pending is left alone (a second
    delivery). When the storage does not answer, the report stays pending for the reconciler.
    """
    row = drift_reports.get(job_id)
    if row is None or row.status != "pending":
        logger.info("drift of bulk job %s: no pending report; skipping", job_id)
        return
    started = time.perf_counter()
    org_id = row.organization_id
    status, body, error = "failed", None, None
    try:
        status, body = _report_of(job_id, row.model_version_id, org_id)
    except Unavailable as exc:
        db.session.rollback()
        logger.warning("drift of bulk job %s (org %s): %s; left pending", job_id, org_id, exc.message)
        return
    except PipelineError as exc:
        error = str(exc)
        logger.info("drift of bulk job %s (org %s): %s", job_id, org_id, error)
    except Exception:
        db.session.rollback()
        error = INTERNAL_ERROR
        logger.exception("drift of bulk job %s (org %s): unexpected error", job_id, org_id)
    alerts = body["alerts"] if body else []
    drift_reports.finish(job_id, status, body, alerts, error)
    db.session.commit()
    logger.info(
        "drift of bulk job %s (org %s): %s, %s alerts in %.2f s",
        job_id,
        org_id,
        status,
        len(alerts),
        time.perf_counter() - started,
    )


def _report_of(job_id: str, model_version_id: str | None, org_id: str) -> tuple[str, dict | None]:
    """(status, report) of the job: the partitions' counts summed, against the model's reference."""
    mv = model_versions.get(model_version_id) if model_version_id else None
    reference = bundle_for(mv).reference if mv is not None else None
    if reference is None:
        return "no_reference", None
    pieces = drift_reports.partition_counts(job_id)
    uncounted = [index for index, counted in pieces if counted is None]
    if uncounted:
        raise PipelineError(
            f"partition(s) {uncounted[:5]} kept no drift counts (scored before drift was measured); "
            "score the file again for a drift report"
        )
    return "done", report(reference, sum_counts(c for _, c in pieces), thresholds_for(org_id))


def get_report(org_id: str, job_id: str) -> dict:
    """The drift report of the organization's bulk job, as GET .../drift answers it.

    A queued or running job, or a succeeded one whose task has not run yet: status ``pending``
    with no figures. Raises NotFound for a job that is not the organization's (or not a bulk
    job), or a succeeded job from before drift reports were kept; Conflict for a failed or
    cancelled job (it has no report and will not get one).
    """
    job = jobs.get_for_org(org_id, job_id, "bulk", "bulk job")
    row = drift_reports.get_for_org(org_id, job_id)
    if row is None:
        if job.status in jobs.ACTIVE:
            version = job.model_version.version if job.model_version else None
            return _answer(job_id, "pending", version, None, None, [])
        if job.status == "succeeded":
            raise NotFound(f"bulk job {job_id} has no drift report: it was scored before drift was measured")
        raise Conflict(f"bulk job {job_id} is {job.status}; a drift report is made when a job succeeds")
    version = row.model_version.version if row.model_version else None
    return _answer(job_id, row.status, version, row.report, row.error, row.alerts or [])


def latest_for_version(org_id: str, version: int) -> dict | None:
    """The drift report (as ``get_report`` answers it) of the newest bulk job the organization's
    version scored whose report is finished (done, failed or no_reference), or None. NotFound for
    a version it does not have."""
    mv = model_versions.get_for_org(org_id, version)
    row = drift_reports.latest_finished_for_version(org_id, mv.id)
    if row is None:
        return None
    return _answer(row.job_id, row.status, version, row.report, row.error, row.alerts or [])


def _answer(job_id, status, version, body, error, alerts) -> dict:
    body = body or {}
    return {
        "job_id": job_id,
        "status": status,
        "model_version": version,
        "rows": body.get("rows"),
        "reference_rows": body.get("reference_rows"),
        "thresholds": body.get("thresholds"),
        "features": body.get("features"),
        "predictions": body.get("predictions"),
        "categories": body.get("categories"),
        "missing": body.get("missing"),
        "alerts": alerts,
        "error": error,
    }
