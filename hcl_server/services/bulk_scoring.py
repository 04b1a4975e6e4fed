"""Bulk scoring in the worker: split a file into customer partitions, score each in any worker,
merge at the end, then write the Excel file.

Every step is safe to run twice: the split is claimed with a conditional UPDATE, a partition
replaces its own stored predictions and result file (fixed keys), and the merge is triggered
once, by whichever partition finishes last, through another conditional UPDATE.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from flask import current_app

from hcl_server.celery_app import MAX_PRIORITY, enqueue_later
from hcl_server.db import BulkPartition, Job
from hcl_server.db.models import utcnow
from hcl_server.db.params import BulkParams
from hcl_server.errors import StorageUnavailable
from hcl_server.extensions import db
from hcl_server.repositories import jobs, model_versions, partitions, predictions
from hcl_server.services import bulk_drift, outcomes
from hcl_server.services.bulk import read_job_shards, result_prefix
from hcl_server.services.bulk_results import (
    category_spends,
    concat_csv,
    job_summary,
    job_warnings,
    partition_summary,
    prediction_rows,
)
from hcl_server.services.exports import EXCEL_MAX_ROWS, write_csv
from hcl_server.services.exports_xlsx import write_xlsx
from hcl_server.services.heartbeat import Heartbeat
from hcl_server.services.jobs import MAX_ATTEMPTS, SKIP, ProgressWriter, claim_patiently, died_message, fail
from hcl_server.services.reading import api_messages
from hcl_server.services.scoring import bundle_for, risk_thresholds
from hcl_server.services.webhooks import job_ended
from hcl_server.storage import storage
from ml_pipeline.data.days import as_of_after, date_to_day, day_to_date
from ml_pipeline.data.options import ReadOptions
from ml_pipeline.data.sharding import Shards, shard_file
from ml_pipeline.errors import PipelineError
from ml_pipeline.monitoring.reference import counts_of_scoring
from ml_pipeline.serving.scoring import rounded, score

logger = logging.getLogger(__name__)


def split(job: Job) -> None:
    """Stream a claimed job's upload into customer shards, group them into partitions, commit,
    then enqueue one task per partition.

    The file is read in batches (ml_pipeline.data.sharding), so this step's memory is bounded by a
    batch; the formats are decided for the whole file here, before any partition is scored.
    Raises PipelineError for a file that cannot be read.
    """
    params = BulkParams.from_dict(job.params)
    started = time.perf_counter()
    ProgressWriter(job.id)("splitting", 0.01)
    with tempfile.TemporaryDirectory() as tmp:
        shards, as_of = _shard_upload(job, params, Path(tmp))
    groups = shards.groups(params.partition_customers)
    partitions.replace(job.id, [sum(shards.customers[s] for s in group) for group in groups])
    params.as_of = day_to_date(as_of)
    params.partitions, params.partition_shards = len(groups), groups
    params.columns, params.formats = shards.columns, shards.formats
    job.params = params.to_dict()
    job.result = {"total_customers": sum(shards.customers)}
    job.warnings = api_messages(shards.warnings)
    job.stage, job.progress = "scoring", 0.1
    db.session.commit()
    logger.info(
        "bulk job %s (org %s): split %s rows of %s customers into %s shards, %s partitions in %.1f s",
        job.id,
        job.organization_id,
        shards.rows,
        sum(shards.customers),
        len(shards.paths),
        len(groups),
        time.perf_counter() - started,
    )
    for i in range(len(groups)):
        # A broker that went down now loses nothing: the partitions are committed as pending, and
        # the reconciler sends every one whose task is not waiting in the queue.
        if not enqueue_later("hcl.bulk.partition", job.id, i, priority=partition_priority(i)):
            break


PARTITIONS_PER_TURN = 2


def partition_priority(index: int) -> int:
    """Partitions of one job go out at falling priority (1, 1, 2, 2, ... 9), below the first step
    of any job (0): another organization's upload, sent while this job's partitions wait, is
    split or profiled next, and its own partitions interleave with this job's rather than wait
    for all of them."""
    return min(MAX_PRIORITY, 1 + index // PARTITIONS_PER_TURN)


def _shard_upload(job: Job, params: BulkParams, folder: Path) -> tuple[Shards, int]:
    """Download the upload into ``folder``, shard it by customer with the job's reading options
    and store the shards: (the shards, the as-of day). A file without a readable date fails
    before any upload."""
    path = folder / params.filename
    storage().get_file(params.storage_key, path)
    (folder / "shards").mkdir()
    shards = shard_file(
        path,
        folder / "shards",
        options=ReadOptions.from_dict(params.read_options).for_scoring(),
        max_inflated_mb=current_app.config["MAX_INFLATED_MB"],
    )
    path.unlink()
    as_of = _as_of(params, shards.last_day)
    for i, shard_path in enumerate(shards.paths):
        storage().put_file(f"{result_prefix(job)}/shards/{i:05d}.arrow", shard_path)
    return shards, as_of


def _as_of(params: BulkParams, last_day: int | None) -> int:
    """The job's as-of day: the one asked for, else the day after the file's last event."""
    if last_day is None:
        raise PipelineError("no event in the file has a readable date")
    as_of = date_to_day(params.as_of) if params.as_of else None
    return as_of_after(last_day, as_of, option="as_of")


def score_partition(job: Job, index: int, redelivered: bool) -> None:
    """Claim and score one partition of a running job, store its predictions and result file,
    commit; the last partition to finish enqueues the merge.

    The claim (a conditional UPDATE counting the attempt) lets one delivery at a time score it;
    a heartbeat shows it alive while it runs. A partition whose workers died ``MAX_ATTEMPTS``
    times fails the job with that reason. Raises PipelineError for shards that do not score.
    """
    part = partitions.get(job.id, index)
    if part.status != "done":
        attempt = _claim_partition(job, index, redelivered)
        if attempt is None:
            return
        db.session.refresh(part)
        beat = Heartbeat(
            BulkPartition,
            BulkPartition.job_id == job.id,
            BulkPartition.index == index,
            BulkPartition.status == "running",
            BulkPartition.attempts == attempt,
        )
        with beat:
            _score(job, part)
    merge_when_all_done(job.id)


def _claim_partition(job: Job, index: int, redelivered: bool) -> int | None:
    """This delivery's attempt at the partition (see services.jobs.claim: a redelivery waits up
    to two heartbeats for a dead worker's partition), or None: another delivery is scoring it,
    it is done, or its workers died ``MAX_ATTEMPTS`` times (the job is then failed)."""

    def try_once(stale_s: float) -> int | None:
        attempt = partitions.claim(job.id, index, stale_s, MAX_ATTEMPTS)
        db.session.commit()
        if attempt is not None:
            return attempt
        if partitions.exhausted(job.id, index, stale_s, MAX_ATTEMPTS):
            fail(job, f"partition {index}: " + died_message(MAX_ATTEMPTS, "the worker scoring it"))
            return SKIP
        return None

    return claim_patiently(try_once, redelivered)


class _Laps:
    """Seconds per named step since the previous one, for a log line that says where time went."""

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.steps: dict[str, float] = {}

    def __call__(self, step: str) -> None:
        now = time.perf_counter()
        self.steps[step], self.last = now - self.last, now

    def __str__(self) -> str:
        return ", ".join(f"{step} {s:.1f} s" for step, s in self.steps.items())


def _score(job: Job, part: BulkPartition) -> None:
    laps = _Laps()
    params = BulkParams.from_dict(job.params)
    bundle = bundle_for(model_versions.get(job.model_version_id))
    with tempfile.TemporaryDirectory() as tmp:
        log = read_job_shards(job, params.partition_shards[part.index], Path(tmp))
        laps("read")
        as_of = date_to_day(params.as_of)
        scoring = score(
            bundle, log, as_of=as_of, risk_thresholds=risk_thresholds(job.organization_id, bundle)
        )
        laps("features, models and reasons")
        # The rounded frame is what is delivered; drift bins the predictions as the reference does.
        frame = rounded(scoring.frame)
        part.drift_counts = counts_of_scoring(bundle, scoring.features, scoring.predictions, log, as_of)
        laps("drift counts")
        out = Path(tmp) / "result.csv"
        write_csv(frame, out)
        storage().put_file(f"{result_prefix(job)}/results/part-{part.index:05d}.csv", out)
        laps("CSV")
    rows = prediction_rows(
        frame, bundle, org_id=job.organization_id, job_id=job.id, partition=part.index, now=utcnow()
    )
    predictions.replace_partition(job.id, part.index, rows)
    part.summary = partition_summary(frame, api_messages(log.warnings), category_spends(bundle))
    part.status = "done"
    db.session.commit()
    laps("stored predictions")
    logger.info(
        "bulk job %s (org %s): partition %s, %s customers scored and stored in %.1f s (%s)",
        job.id,
        job.organization_id,
        part.index,
        len(frame),
        time.perf_counter() - laps.started,
        laps,
    )
    done = partitions.count_done(job.id)
    ProgressWriter(job.id)("scoring", 0.1 + 0.8 * done / params.partitions)


def merge_when_all_done(job_id: str) -> bool:
    """Enqueue the merge once every partition is done (once: a conditional UPDATE moves the
    stage); True when this call moved the job to merging."""
    if partitions.count_pending(job_id):
        return False
    moved = jobs.move_stage(job_id, "scoring", "merging")
    db.session.commit()
    if moved:
        enqueue_later("hcl.bulk.merge", job_id)
    return moved


def merge_claimed(job: Job) -> None:
    """``merge`` with a heartbeat on the job while it runs (the reconciler re-sends the merge of
    a job whose heartbeat stops in stage merging)."""
    with Heartbeat(Job, Job.id == job.id, Job.status == "running", Job.stage == "merging"):
        merge(job)


def merge(job: Job) -> None:
    """Concatenate a running job's partition results into the downloadable CSV, record the
    summary and succeed the job (unless it was cancelled) with its drift report pending; then
    enqueue the Excel file, the drift task (services.bulk_drift) and the outcomes of older jobs'
    predictions that its file may mature (services.outcomes)."""
    started = time.perf_counter()
    parts = partitions.in_order(job.id)
    prefix = result_prefix(job)
    with tempfile.TemporaryDirectory() as tmp:
        merged = Path(tmp) / "predictions.csv"
        concat_csv(_fetched(f"{prefix}/results/part-{p.index:05d}.csv" for p in parts), merged)
        storage().put_file(f"{prefix}/results/predictions.csv", merged)
    total = sum(p.summary["n"] for p in parts)
    result = {
        **(job.result or {}),
        "total_customers": total,
        "summary": job_summary(parts),
        "files": {"csv": f"{prefix}/results/predictions.csv", "xlsx": None},
        "xlsx": "pending" if total <= EXCEL_MAX_ROWS else "too_many_rows",
    }
    done = jobs.succeed(job.id, result, job_warnings(job.warnings or [], parts))
    if done:
        job_ended(job, "succeeded")
        bulk_drift.expect_report(job)
    db.session.commit()
    logger.info(
        "bulk job %s (org %s): merged %s customers in %.1f s (%s)",
        job.id,
        job.organization_id,
        total,
        time.perf_counter() - started,
        "done" if done else "cancelled",
    )
    if done and total <= EXCEL_MAX_ROWS:
        enqueue_later("hcl.bulk.xlsx", job.id, priority=EXCEL_PRIORITY)
    if done:
        bulk_drift.send(job.id)
        outcomes.request_scoring(job.organization_id, "bulk", job.id)  # its file may mature older jobs
        enqueue_shadow(job)


SHADOW_TASK = "hcl.bulk.shadow"
# The lowest (shared only with the 17th and later partitions of a job): on Redis every other step
# of every job goes first; the file broker keeps arrival order.
SHADOW_PRIORITY = MAX_PRIORITY


def enqueue_shadow(job: Job) -> None:
    """Send the shadow scoring of each partition of a job that has just succeeded, if it has a
    candidate to score (services/shadow.py). Sent after the merge, not beside the partitions, so
    the job's result never waits for it; a task the broker did not take is sent again by the
    reconciler."""
    params = BulkParams.from_dict(job.params)
    if params.shadow_model_version_id is None:
        return
    for i in range(params.partitions):
        if not enqueue_later(SHADOW_TASK, job.id, i, priority=SHADOW_PRIORITY):
            break


def _fetched(keys: Iterator[str]) -> Iterator[Path]:
    """Each stored file in turn, downloaded to the same temporary path (one on disk at a time)."""
    with tempfile.TemporaryDirectory() as tmp:
        piece = Path(tmp) / "piece.csv"
        for key in keys:
            storage().get_file(key, piece)
            yield piece


EXCEL_PRIORITY = 5  # after the first steps and early partitions of waiting jobs: the CSV is ready


def excel_pending(job_id: str) -> Job | None:
    """The succeeded job whose Excel file is still to be written, or None."""
    job = jobs.get(Job, job_id)
    if job is None or job.status != "succeeded" or (job.result or {}).get("xlsx") != "pending":
        return None
    return job


def _excel_error(exc: Exception) -> str:
    """What a client is told of a failed Excel file: the storage's own message when it was away,
    otherwise no internals."""
    if isinstance(exc, StorageUnavailable):
        return f"{exc}; download format=csv"
    return "internal error while writing the Excel file; download format=csv"


def write_excel(job: Job) -> None:
    """Build the Excel download of a succeeded job (the CSV is downloadable meanwhile); commits.

    A failure is recorded as ``result["xlsx"] = "failed"`` with why in ``result["xlsx_error"]``,
    not raised: the job has succeeded.
    """
    started = time.perf_counter()
    prefix = result_prefix(job)
    try:
        with Heartbeat(Job, Job.id == job.id), tempfile.TemporaryDirectory() as tmp:
            csv_path, xlsx_path = Path(tmp) / "predictions.csv", Path(tmp) / "predictions.xlsx"
            storage().get_file(f"{prefix}/results/predictions.csv", csv_path)
            write_xlsx(csv_path, xlsx_path)
            storage().put_file(f"{prefix}/results/predictions.xlsx", xlsx_path)
        files = {**job.result["files"], "xlsx": f"{prefix}/results/predictions.xlsx"}
        job.result = {**job.result, "files": files, "xlsx": "ready"}
    except Exception as exc:
        logger.exception("bulk job %s (org %s): Excel file failed", job.id, job.organization_id)
        db.session.rollback()
        job.result = {**job.result, "xlsx": "failed", "xlsx_error": _excel_error(exc)}
    db.session.commit()
    logger.info(
        "bulk job %s (org %s): Excel file in %.1f s",
        job.id,
        job.organization_id,
        time.perf_counter() - started,
    )
