"""Bulk scoring: split a file into customer partitions, score each in any worker, merge at the end.

The work, and why each step is safe to run twice, is in services/bulk_scoring.py.
"""

from __future__ import annotations

from celery import shared_task

from hcl_server.db import Job
from hcl_server.services import bulk_drift, bulk_scoring
from hcl_server.tasks.outcome import redelivered, run_claimed, run_while_running


@shared_task(name="hcl.bulk.split", ignore_result=True, bind=True)
def split_bulk_job(self, job_id: str) -> None:
    """Split the upload into customer partitions and enqueue one task per partition."""
    run_claimed(
        Job,
        job_id,
        bulk_scoring.split,
        what="bulk job",
        internal_error="internal error while reading the file",
        redelivered=redelivered(self),
    )


@shared_task(name="hcl.bulk.partition", ignore_result=True, bind=True)
def score_partition(self, job_id: str, index: int) -> None:
    """Score one partition; the last one to finish enqueues the merge. A redelivery takes over
    the partition of a worker that died (``redelivered``)."""
    run_while_running(
        job_id,
        lambda job: bulk_scoring.score_partition(job, index, redelivered(self)),
        what="bulk job",
        internal_error=f"internal error while scoring partition {index}",
        prefix=f"partition {index}: ",
    )


@shared_task(name="hcl.bulk.merge", ignore_result=True)
def merge_bulk_job(job_id: str) -> None:
    """Concatenate partition results into the downloadable files and record the summary."""
    run_while_running(
        job_id,
        bulk_scoring.merge_claimed,
        what="bulk job",
        internal_error="internal error while merging the results",
    )


@shared_task(name="hcl.bulk.xlsx", ignore_result=True)
def write_bulk_xlsx(job_id: str) -> None:
    """Build the Excel download after the job has succeeded (the CSV is downloadable meanwhile)."""
    job = bulk_scoring.excel_pending(job_id)
    if job is not None:
        bulk_scoring.write_excel(job)


@shared_task(name="hcl.bulk.drift", ignore_result=True)
def measure_bulk_drift(job_id: str) -> None:
    """Sum a succeeded job's partition drift counts into its drift report (a report already
    written is left alone: a second delivery does nothing)."""
    bulk_drift.measure(job_id)
