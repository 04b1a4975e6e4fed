"""Realized accuracy of bulk jobs' stored predictions, scored once a newer log shows what the
customers did (ml_pipeline.monitoring.outcomes holds the method and the coverage rule).

A newer log is a dataset that finished profiling or a bulk job's file once the job succeeded:
each enqueues ``hcl.outcomes.score`` (``request_scoring``). The task finds the organization's
succeeded bulk jobs with no outcome from that source yet whose as-of date falls within the log,
reads the log once, and writes one Outcome per job for its production predictions and one per
version scored in shadow on it (with the paired comparison and the automatic promotion decision,
services.champion). A job whose label window the log does not cover gets no outcome: the reason
is added to the source's warnings. Safe to run twice: outcomes are unique per job, version and
source, and a job already scored is skipped.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import pandas as pd
from sqlalchemy.exc import IntegrityError

from hcl_server.celery_app import enqueue
from hcl_server.db import Dataset, Job, ModelVersion, Outcome
from hcl_server.db.params import BulkParams
from hcl_server.errors import Unavailable
from hcl_server.extensions import db
from hcl_server.repositories import jobs, model_versions
from hcl_server.repositories import outcomes as repo
from hcl_server.services import champion, shadow
from hcl_server.services.bulk import read_job_shards
from hcl_server.services.datasets import read_events
from ml_pipeline.data.days import date_to_day, day_to_date
from ml_pipeline.data.eventlog import EventLog
from ml_pipeline.errors import PipelineError
from ml_pipeline.monitoring.outcomes import (
    actuals,
    check_coverage,
    finite,
    paired_comparison,
    predictions_frame,
    realized_metrics,
)

logger = logging.getLogger(__name__)

TASK = "hcl.outcomes.score"
PRIORITY = 6  # after the first steps and early partitions of waiting jobs: nobody waits on it
SOURCES = ("dataset", "bulk")


def request_scoring(org_id: str, kind: str, source_id: str) -> None:
    """Enqueue the outcomes of a newer log (``kind`` "dataset" or "bulk"); a broker that is down
    is logged, not raised: the upload or job it follows has already succeeded."""
    try:
        enqueue(TASK, org_id, kind, source_id, priority=PRIORITY)
    except Unavailable as exc:
        logger.warning("outcomes of %s %s (org %s) not computed: %s", kind, source_id, org_id, exc.message)


def score_source(org_id: str, kind: str, source_id: str) -> int:
    """Score every matured, unscored bulk job of the organization against a succeeded dataset or
    bulk job's file; commits per job. Returns the outcomes written. A source that is not (or no
    longer) a succeeded row of the organization is skipped."""
    source = _source(org_id, kind, source_id)
    if source is None:
        logger.info("outcomes: %s %s (org %s) is not a succeeded source; skipped", kind, source_id, org_id)
        return 0
    span = _span(kind, source)
    todo = [j for j in repo.unscored_jobs(org_id, source_id) if _within(j, span)]
    if not todo:
        return 0
    started = time.perf_counter()
    written, waiting = 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        log = read_events(source, Path(tmp)) if kind == "dataset" else _read_bulk_file(source, Path(tmp))
    for job in todo:
        try:
            written += score_job(job, log, kind, source_id)
        except PipelineError as exc:
            # Mostly predictions whose horizon this log does not cover yet: they wait for a later
            # log, and GET /models/{version}/outcomes lists them as pending with the date they need.
            # Not a warning on the upload: a nightly log is always short of the latest jobs' horizon.
            db.session.rollback()
            waiting += 1
            logger.info(
                "outcomes: %s %s (org %s): bulk job %s not scored: %s", kind, source_id, org_id, job.id, exc
            )
        except Exception:  # ours, not the data's: logged, and the other jobs are still scored
            db.session.rollback()
            logger.exception("outcomes: %s %s (org %s): bulk job %s failed", kind, source_id, org_id, job.id)
    logger.info(
        "outcomes: %s %s (org %s): %s outcomes of %s jobs in %.1f s (%s not scored)",
        kind,
        source_id,
        org_id,
        written,
        len(todo),
        time.perf_counter() - started,
        waiting,
    )
    return written


def score_job(job: Job, log: EventLog, kind: str, source_id: str) -> int:
    """Write the outcomes of one job's predictions (production, then each shadow version) against
    ``log``; commits. Returns how many were written. Raises PipelineError when the log does not
    cover the job's label window."""
    mv = model_versions.get(job.model_version_id)
    meta = mv.bundle_metadata or {}
    if "horizon_days" not in meta or "churn_horizon_days" not in meta:
        raise PipelineError(f"model version {mv.version} has no horizons recorded in its metadata")
    as_of = date_to_day(job.params["as_of"])
    horizons = {
        "horizon_days": int(meta["horizon_days"]),
        "churn_horizon_days": int(meta["churn_horizon_days"]),
    }
    check_coverage(log, as_of, **horizons)
    production = predictions_frame(repo.prediction_rows(job.id))
    if production.empty:
        raise PipelineError("the job stored no predictions")
    # Only a shadow version scored on every partition: a comparison on the partitions done so far
    # would be written once and for all for this log.
    complete = shadow.complete_version(job)
    shadows = {
        sv: predictions_frame(repo.shadow_rows(job.id, sv))
        for sv in repo.shadow_versions(job.id)
        if sv == complete and not repo.has_outcome(job.id, sv, source_id)
    }
    customers = production.index.union(pd.Index([c for f in shadows.values() for c in f.index]))
    builder = meta.get("feature_builder") or {}
    y, _ = actuals(
        log,
        as_of,
        customers.to_numpy(),
        **horizons,
        top_categories=builder.get("categories") or [],
        category_targets=builder.get("category_targets") or [],
    )
    written = 0
    base = {
        "organization_id": job.organization_id,
        "job_id": job.id,
        "source_kind": kind,
        "source_id": source_id,
    }
    base["as_of"] = day_to_date(as_of)
    in_log = pd.Index(log.customer_ids.astype(str))
    prod_metrics = _metrics(production, y, in_log)
    if not repo.has_outcome(job.id, mv.id, source_id):
        db.session.add(
            Outcome(
                **base,
                model_version_id=mv.id,
                shadow=False,
                customers=prod_metrics["customers"],
                metrics=prod_metrics,
            )
        )
        written += 1
    for sv_id, frame in shadows.items():
        candidate = model_versions.get(sv_id)
        comparison = finite(paired_comparison(y, frame, production))
        comparison["production_version"] = mv.version
        comparison["decision"] = champion.decide(job.organization_id, candidate, comparison)
        metrics = _metrics(frame, y, in_log)
        db.session.add(
            Outcome(
                **base,
                model_version_id=sv_id,
                shadow=True,
                customers=metrics["customers"],
                metrics=metrics,
                comparison=comparison,
            )
        )
        written += 1
    try:
        db.session.commit()
    except IntegrityError:  # another delivery of the same task wrote them first
        db.session.rollback()
        return 0
    return written


def _metrics(frame: pd.DataFrame, y: pd.DataFrame, in_log: pd.Index) -> dict:
    """Realized metrics of one prediction set, with how many of its customers the newer log does
    not have (they count as churned with no spend: ml_pipeline.monitoring.outcomes)."""
    out = finite(realized_metrics(frame, y))
    absent = int((~frame.index.isin(in_log)).sum())
    out["absent_from_log"] = {
        "customers": absent,
        "share": round(absent / len(frame), 6) if len(frame) else None,
    }
    return out


def _source(org_id: str, kind: str, source_id: str) -> Dataset | Job | None:
    row = jobs.get(Dataset if kind == "dataset" else Job, source_id)
    if row is None or row.organization_id != org_id or row.status != "succeeded":
        return None
    return row


def _span(kind: str, source: Dataset | Job) -> tuple[int | None, int | None]:
    """(first, last) event day of the source's log as far as known without reading it."""
    if kind == "dataset":
        profile = source.profile or {}
        first, last = profile.get("first_date"), profile.get("last_date")
        return (date_to_day(first) if first else None, date_to_day(last) if last else None)
    as_of = source.params.get("as_of")
    return (None, date_to_day(as_of) - 1 if as_of else None)  # a bulk file ends before its as-of date


def _within(job: Job, span: tuple[int | None, int | None]) -> bool:
    """Whether the job's as-of date falls in the log: a log that ends before it says nothing of
    the customers' future and is not reported."""
    as_of = (job.params or {}).get("as_of")
    if not as_of:
        return False
    day, (first, last) = date_to_day(as_of), span
    return (first is None or first <= day) and (last is None or day <= last)


def _read_bulk_file(job: Job, folder: Path) -> EventLog:
    """A succeeded bulk job's whole file, from its stored shards."""
    params = BulkParams.from_dict(job.params)
    return read_job_shards(job, sorted(s for group in params.partition_shards or [] for s in group), folder)


def version_outcomes(org_id: str, version: int) -> dict:
    """A version's realized accuracy next to its validation metrics: {version, validation,
    realized (the latest production outcome's metrics, or None), jobs: [...], pending: [...]}.
    ``pending``: the version's succeeded bulk jobs (its own predictions, or its shadow ones) with no
    outcome yet, each with the last day a newer log must reach to score them. NotFound for a
    version the organization does not have."""
    mv = model_versions.get_for_org(org_id, version)
    rows = repo.for_version(org_id, mv.id)
    # production predictions first: a version scored only in shadow shows its latest shadow outcome
    latest = next((o for o in rows if not o.shadow), rows[0] if rows else None)
    listed = _listed_all(rows)
    return {
        "version": mv.version,
        "validation": mv.metrics or {},
        "realized": None if latest is None else listed[rows.index(latest)],
        "jobs": listed,
        "pending": _pending(org_id, mv, {o.job_id for o in rows}),
    }


def _pending(org_id: str, mv: ModelVersion, scored: set[str]) -> list[dict]:
    """The version's succeeded bulk jobs without an outcome, newest as-of first: {job_id, as_of,
    shadow, needs_events_through} (the as-of date plus the longer horizon, less one day)."""
    meta = mv.bundle_metadata or {}
    horizon = max(int(meta.get("horizon_days") or 0), int(meta.get("churn_horizon_days") or 0))
    out = []
    for job in repo.jobs_of_version(org_id, mv.id):
        if job.id in scored or not (job.params or {}).get("as_of"):
            continue
        as_of = job.params["as_of"]
        out.append(
            {
                "job_id": job.id,
                "as_of": as_of,
                "shadow": job.model_version_id != mv.id,
                "needs_events_through": day_to_date(date_to_day(as_of) + horizon - 1) if horizon else None,
            }
        )
    return sorted(out, key=lambda p: p["as_of"], reverse=True)


def job_outcomes(org_id: str, job_id: str) -> dict:
    """A bulk job's outcomes (production and shadow versions). NotFound for a job the
    organization does not have."""
    job = jobs.get_for_org(org_id, job_id, "bulk", "bulk job")
    return {"job_id": job.id, "outcomes": _listed_all(repo.for_job(org_id, job.id))}


def _listed_all(rows: list[Outcome]) -> list[dict]:
    """The outcomes as the API shows them, with their version numbers (one query for all)."""
    ids = {o.model_version_id for o in rows}
    numbers = (
        dict(
            db.session.execute(
                db.select(ModelVersion.id, ModelVersion.version).where(ModelVersion.id.in_(ids))
            ).all()
        )
        if ids
        else {}
    )
    return [_listed(o, numbers.get(o.model_version_id)) for o in rows]


def _listed(o: Outcome, version: int | None) -> dict:
    return {
        "job_id": o.job_id,
        "model_version": version,
        "as_of": o.as_of,
        "source": {"kind": o.source_kind, "id": o.source_id},
        "shadow": o.shadow,
        "customers": o.customers,
        "metrics": o.metrics,
        "comparison": o.comparison,
        "created_at": o.created_at,
    }
