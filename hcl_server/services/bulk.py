"""Bulk scoring jobs: accept a file, split it by customer, score partitions, merge the results."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import update

from hcl_server.api.errors import ApiError
from hcl_server.db import Job
from hcl_server.db.models import new_id, utcnow
from hcl_server.extensions import db
from hcl_server.repositories import get_scoped
from hcl_server.services.datasets import save_upload
from hcl_server.services.scoring import production_model
from hcl_server.tasks.queue import enqueue


def result_prefix(job: Job) -> str:
    return f"orgs/{job.organization_id}/bulk/{job.id}"


def create_bulk_job(org_id: str, upload, name: str | None, as_of: str | None) -> Job:
    """Store the upload, commit a queued job pinned to the current production model, enqueue it."""
    mv = production_model(org_id)
    job = Job(id=new_id(), organization_id=org_id, kind="bulk", model_version_id=mv.id)
    filename, key, size = save_upload(upload, org_id, "bulk", job.id)
    job.params = {
        "name": name or filename,
        "filename": filename,
        "storage_key": key,
        "size_bytes": size,
        "as_of": as_of,
        "partition_customers": current_app.config["BULK_PARTITION_CUSTOMERS"],
    }
    db.session.add(job)
    db.session.commit()
    enqueue("hcl.bulk.split", job.id)
    return job


def get_bulk_job(org_id: str, job_id: str) -> Job:
    job = get_scoped(Job, org_id, job_id, "bulk job")
    if job.kind != "bulk":
        raise ApiError(404, f"bulk job {job_id} not found")
    return job


def cancel_bulk_job(org_id: str, job_id: str) -> Job:
    """Cancel a queued or running job; its tasks see the status and stop."""
    job = get_bulk_job(org_id, job_id)
    result = db.session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status.in_(("queued", "running")))
        .values(status="cancelled", finished_at=utcnow(), stage="cancelled")
    )
    db.session.commit()
    if result.rowcount == 0:
        db.session.refresh(job)
        raise ApiError(409, f"bulk job {job.id} is already {job.status}")
    db.session.refresh(job)
    return job
