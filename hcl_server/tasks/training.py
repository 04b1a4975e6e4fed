"""Training a model version from a dataset."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

from celery import shared_task

from hcl_server.db import Dataset, Job
from hcl_server.extensions import db
from hcl_server.services.jobs import ProgressWriter, claim, finish
from hcl_server.services.training import register_model
from hcl_server.storage import storage
from ml_pipeline.data.days import date_to_day
from ml_pipeline.data.eventlog import load_events
from ml_pipeline.errors import PipelineError
from ml_pipeline.models.registry import parse_models
from ml_pipeline.serving.bundle import save_bundle
from ml_pipeline.training.trainer import TrainConfig, train

logger = logging.getLogger(__name__)


@shared_task(name="hcl.training.run", ignore_result=True)
def run_training(job_id: str) -> None:
    """Train on the job's dataset, store the bundle, register the version; never leave the job running."""
    if not claim(Job, job_id):
        logger.info("training job %s already claimed; skipping this delivery", job_id)
        return
    job = db.session.get(Job, job_id)
    ctx = {"job_id": job_id, "org_id": job.organization_id}
    progress = ProgressWriter(job_id)
    try:
        dataset = db.session.get(Dataset, job.dataset_id)
        params = job.params
        config = TrainConfig(
            horizon_days=params.get("horizon_days", 30),
            churn_horizon_days=params.get("churn_horizon_days", 30),
            models=parse_models(params.get("models")),
        )
        with tempfile.TemporaryDirectory() as tmp:
            progress("loading", 0.0)
            path = Path(tmp) / dataset.filename
            storage().get_file(dataset.storage_key, path)
            log = load_events(path, column_mapping=dataset.column_mapping)
            as_of = date_to_day(params["as_of"]) if params.get("as_of") else None
            result = train(log, config, as_of=as_of, on_progress=progress)
            progress("saving", 0.98)
            bundle = save_bundle(result, log, Path(tmp) / "bundle")
            metadata = json.loads((bundle / "metadata.json").read_text())
            mv = register_model(job, bundle, metadata)
        job.model_version_id = mv.id
        job.warnings = list(log.warnings) + list(result.warnings)
        finish(
            job,
            "succeeded",
            result={
                "metrics": metadata["metrics"],
                "selection": metadata["selection"],
                "model_version": mv.version,
            },
        )
        logger.info("training job succeeded: version %s", mv.version, extra=ctx)
    except PipelineError as exc:
        db.session.rollback()
        finish(job, "failed", error=str(exc))
    except Exception:
        logger.exception("training job %s: unexpected error", job_id, extra=ctx)
        db.session.rollback()
        finish(
            job, "failed", error="internal error while training; the team has the details in the worker log"
        )
