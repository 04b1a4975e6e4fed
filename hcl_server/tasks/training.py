"""Training a model version from a dataset."""

from __future__ import annotations

from celery import shared_task

from hcl_server.db import Job
from hcl_server.services import training
from hcl_server.tasks.outcome import redelivered, run_claimed


@shared_task(name="hcl.training.run", ignore_result=True, bind=True)
def run_training(self, job_id: str) -> None:
    """Train on the job's dataset, store the bundle, register the version; never leave the job running."""
    run_claimed(
        Job,
        job_id,
        training.run_training,
        what="training job",
        redelivered=redelivered(self),
        internal_error="internal error while training; the team has the details in the worker log",
    )
