"""Shadow scoring in the worker: one partition of a succeeded bulk job scored with the candidate
model fixed at submission (services/shadow.py), its rows stored in ``shadow_predictions``.

Safe to run twice: a partition whose outcome is recorded is skipped, and the rows of (job,
version, partition) are replaced, never added to. The partition's shards stay in storage after
the job (nothing deletes them), so a task sent again later still finds them.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import pandas as pd

from hcl_server.db import BulkPartition, Job
from hcl_server.db.models import utcnow
from hcl_server.db.params import BulkParams
from hcl_server.errors import Unavailable
from hcl_server.extensions import db
from hcl_server.repositories import jobs, model_versions, partitions, shadow_predictions
from hcl_server.services.bulk import read_job_shards
from hcl_server.services.heartbeat import Heartbeat
from hcl_server.services.scoring import bundle_for, risk_thresholds, spend_columns
from ml_pipeline.data.days import date_to_day
from ml_pipeline.errors import PipelineError
from ml_pipeline.serving.bundle import Bundle
from ml_pipeline.serving.scoring import predict, rounded

logger = logging.getLogger(__name__)


def score_shadow_partition(job_id: str, index: int) -> None:
    """Score partition ``index`` of a succeeded job with its shadow version, replace its shadow
    rows and record the outcome in the partition's summary (``summary["shadow"]``); commits.

    Does nothing for a job that is not succeeded (failed or cancelled before it: nothing to
    compare), has no shadow version, or whose partition has an outcome already. Any failure of
    the candidate (a bundle missing or unreadable, a log it cannot score, a bug) is recorded as
    the partition's failed outcome and logged, never raised: the job has succeeded and stays so.
    A storage or broker that does not answer (Unavailable) records nothing: the reconciler sends
    the task again once its heartbeat is stale.
    """
    job = jobs.get(Job, job_id)
    part = partitions.get(job_id, index)
    version_id = (job.params or {}).get("shadow_model_version_id") if job is not None else None
    if job is None or job.status != "succeeded" or version_id is None or part is None:
        logger.info("shadow scoring of bulk job %s partition %s: nothing to do", job_id, index)
        return
    if "shadow" in (part.summary or {}):
        return
    beat = Heartbeat(
        BulkPartition,
        BulkPartition.job_id == job_id,
        BulkPartition.index == index,
        BulkPartition.status == "done",
    )
    ctx = {"job_id": job_id, "org_id": job.organization_id}
    started = time.perf_counter()
    beat.beat()  # at once: the reconciler reads an old heartbeat with no message waiting as lost
    try:
        with beat:
            outcome = {"status": "done", "customers": _score(job, version_id, index)}
            # Committed before the heartbeat stops: on SQLite a beat waiting for this transaction's
            # write lock would otherwise hold up the thread's join (30 s) while the lock waits on it.
            _record(job_id, index, outcome)
    except Unavailable as exc:
        db.session.rollback()
        logger.warning(
            "bulk job %s partition %s: shadow scoring put off: %s", job_id, index, exc.message, extra=ctx
        )
        return
    except PipelineError as exc:
        db.session.rollback()
        logger.warning("bulk job %s partition %s: shadow scoring failed: %s", job_id, index, exc, extra=ctx)
        outcome = {"status": "failed", "error": f"partition {index}: the candidate did not score: {exc}"}
    except Exception:
        db.session.rollback()
        logger.exception("bulk job %s partition %s: shadow scoring failed", job_id, index, extra=ctx)
        outcome = {
            "status": "failed",
            "error": f"partition {index}: internal error while scoring the candidate",
        }
    if outcome["status"] == "failed":
        _record(job_id, index, outcome)
    logger.info(
        "bulk job %s (org %s): partition %s scored in shadow in %.1f s: %s",
        job_id,
        job.organization_id,
        index,
        time.perf_counter() - started,
        outcome,
        extra=ctx,
    )


def _record(job_id: str, index: int, outcome: dict) -> None:
    """Record the partition's shadow outcome in its summary; commits (with the rows, if any)."""
    part = partitions.get(job_id, index)
    part.summary = {**(part.summary or {}), "shadow": outcome}
    db.session.commit()


def _score(job: Job, version_id: str, index: int) -> int:
    """Score the partition with the shadow version and replace its rows (not committed): the
    number of customers scored. Raises PipelineError when the version's bundle is gone or does
    not load, or the log does not score."""
    params = BulkParams.from_dict(job.params)
    mv = model_versions.get(version_id)
    if mv is None:
        raise PipelineError(f"model version {version_id} no longer exists")
    try:
        bundle = bundle_for(mv)
    except (PipelineError, OSError, ValueError, KeyError) as exc:
        # load_bundle names the temporary folder it read and a CLI command: the client needs the
        # version and where its bundle should be; the original is logged with the failure.
        logger.warning("bundle of version %s (%s) does not load: %s", mv.version, mv.storage_prefix, exc)
        raise PipelineError(
            f"the bundle of model version {mv.version} is missing or unreadable in storage "
            f"({mv.storage_prefix}); point the candidate alias at another version"
        ) from exc
    with tempfile.TemporaryDirectory() as tmp:
        log = read_job_shards(job, params.partition_shards[index], Path(tmp))
        frame = rounded(
            predict(
                bundle,
                log,
                as_of=date_to_day(params.as_of),
                risk_thresholds=risk_thresholds(job.organization_id, bundle),
                reasons=None,
            )
        )
    rows = shadow_records(
        frame, bundle, org_id=job.organization_id, job_id=job.id, version_id=mv.id, partition=index
    )
    shadow_predictions.replace_partition(job.id, mv.id, index, rows)
    return len(rows)


def shadow_records(
    frame: pd.DataFrame, bundle: Bundle, *, org_id: str, job_id: str, version_id: str, partition: int
) -> list[dict]:
    """One dict per row of a (rounded) predictions frame, with the columns of
    ``shadow_predictions``: churn probability, spend total and the per-category spends by category
    (``spend``, as in the job's stored predictions); no risk segment or reasons."""
    spend = {col: key for col, key in spend_columns(bundle).items() if col != "spend_total"}
    spend_dicts = frame[list(spend)].rename(columns=spend).round(4).to_dict("records")
    now = utcnow()
    return [
        {
            "organization_id": org_id,
            "job_id": job_id,
            "model_version_id": version_id,
            "partition": partition,
            "customer_id": cid,
            "churn_probability": p,
            "spend_total": total,
            "spend": sp,
            "created_at": now,
        }
        for cid, p, total, sp in zip(
            frame["customer_id"].astype(str).tolist(),
            frame["churn_probability"].astype(float).tolist(),
            frame["spend_total"].astype(float).tolist(),
            spend_dicts,
        )
    ]
