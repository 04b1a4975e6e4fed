"""Profiling an uploaded event log."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from celery import shared_task

from hcl_server.db import Dataset
from hcl_server.extensions import db
from hcl_server.services.jobs import claim
from hcl_server.storage import storage
from ml_pipeline.data.eventlog import load_events
from ml_pipeline.data.profiling import profile
from ml_pipeline.errors import PipelineError

logger = logging.getLogger(__name__)


@shared_task(name="hcl.datasets.profile", ignore_result=True)
def profile_dataset(dataset_id: str) -> None:
    """Read the stored file with ml_pipeline and record its profile, or the reason it is unusable."""
    if not claim(Dataset, dataset_id):
        logger.info("dataset %s already claimed; skipping this delivery", dataset_id)
        return
    dataset = db.session.get(Dataset, dataset_id)
    log_ctx = {"dataset_id": dataset_id, "org_id": dataset.organization_id}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / dataset.filename
            storage().get_file(dataset.storage_key, path)
            log = load_events(path, column_mapping=dataset.column_mapping)
        dataset.profile = profile(log)
        dataset.warnings = dataset.profile.pop("warnings")
        dataset.status = "succeeded"
    except PipelineError as exc:
        dataset.status, dataset.error = "failed", str(exc)
        logger.info("dataset failed: %s", exc, extra=log_ctx)
    except Exception:
        logger.exception("dataset %s: unexpected error", dataset_id, extra=log_ctx)
        dataset.status, dataset.error = "failed", "internal error while reading the file"
    db.session.commit()
