"""Training jobs: validate the request, commit the job, enqueue; the worker trains and registers."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError

from hcl_server.api.errors import ApiError
from hcl_server.db import Dataset, Job, ModelVersion
from hcl_server.db.models import utcnow
from hcl_server.extensions import db
from hcl_server.repositories import get_scoped
from hcl_server.storage import put_dir
from hcl_server.tasks.queue import enqueue

logger = logging.getLogger(__name__)


def create_training_job(org_id: str, params: dict) -> Job:
    """Check the dataset is usable, commit a queued job, then enqueue it."""
    dataset = get_scoped(Dataset, org_id, params["dataset_id"], "dataset")
    if dataset.status == "failed":
        raise ApiError(409, f"dataset {dataset.id} could not be read: {dataset.error}")
    if dataset.status != "succeeded":
        raise ApiError(
            409, f"dataset {dataset.id} is still being read (status {dataset.status}); retry shortly"
        )
    job = Job(
        organization_id=org_id,
        kind="training",
        dataset_id=dataset.id,
        params={k: v for k, v in params.items() if v is not None and k != "dataset_id"},
    )
    db.session.add(job)
    db.session.commit()
    enqueue("hcl.training.run", job.id)
    return job


def register_model(job: Job, bundle_dir: Path, metadata: dict) -> ModelVersion:
    """Upload a bundle and record its version; an organization's first model becomes production."""
    for _ in range(3):  # two jobs finishing at once may race for a version number
        version = (
            db.session.scalar(
                db.select(func.max(ModelVersion.version)).where(
                    ModelVersion.organization_id == job.organization_id
                )
            )
            or 0
        ) + 1
        prefix = f"orgs/{job.organization_id}/models/v{version}-{job.id}"
        put_dir(prefix, bundle_dir)
        has_production = db.session.scalar(
            db.select(func.count()).where(
                ModelVersion.organization_id == job.organization_id, ModelVersion.is_production.is_(True)
            )
        )
        mv = ModelVersion(
            organization_id=job.organization_id,
            version=version,
            storage_prefix=prefix,
            training_job_id=job.id,
            metrics=metadata["metrics"],
            bundle_metadata=metadata,
            is_production=not has_production,
            promoted_at=None if has_production else utcnow(),
        )
        db.session.add(mv)
        try:
            db.session.flush()
            return mv
        except IntegrityError:
            db.session.rollback()
    raise RuntimeError("could not allocate a model version number")


def promote(org_id: str, version: int) -> ModelVersion:
    """Make a version the organization's production model (the previous one stays, demoted)."""
    mv = db.session.scalar(
        db.select(ModelVersion).where(ModelVersion.organization_id == org_id, ModelVersion.version == version)
    )
    if mv is None:
        raise ApiError(404, f"model version {version} not found")
    db.session.execute(
        db.update(ModelVersion).where(ModelVersion.organization_id == org_id).values(is_production=False)
    )
    mv.is_production, mv.promoted_at = True, utcnow()
    db.session.commit()
    return mv
