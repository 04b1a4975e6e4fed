"""Profiling an uploaded event log."""

from __future__ import annotations

from celery import shared_task

from hcl_server.db import Dataset
from hcl_server.services import datasets
from hcl_server.tasks.outcome import redelivered, run_claimed


@shared_task(name="hcl.datasets.profile", ignore_result=True, bind=True)
def profile_dataset(self, dataset_id: str) -> None:
    """Read the stored file with ml_pipeline and record its profile, or the reason it is unusable."""
    run_claimed(
        Dataset,
        dataset_id,
        datasets.profile_dataset,
        what="dataset",
        redelivered=redelivered(self),
        internal_error="internal error while reading the file",
    )
