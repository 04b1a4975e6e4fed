"""Profiling an uploaded event log."""

from __future__ import annotations

from celery import shared_task

from hcl_server.db import Dataset
from hcl_server.services import datasets, outcomes
from hcl_server.tasks.outcome import redelivered, run_claimed


@shared_task(name="hcl.datasets.profile", ignore_result=True, bind=True)
def profile_dataset(self, dataset_id: str) -> None:
    """Read the stored file with ml_pipeline and record its profile, or the reason it is unusable."""
    run_claimed(
        Dataset,
        dataset_id,
        _profile_then_score_outcomes,
        what="dataset",
        redelivered=redelivered(self),
        internal_error="internal error while reading the file",
    )


def _profile_then_score_outcomes(dataset: Dataset) -> None:
    """Profile the dataset; once it is read, enqueue the outcomes of the stored predictions the
    newer log may mature (services.outcomes)."""
    datasets.profile_dataset(dataset)
    outcomes.request_scoring(dataset.organization_id, "dataset", dataset.id)
