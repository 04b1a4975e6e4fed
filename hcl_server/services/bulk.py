"""Bulk scoring jobs as clients see them: accept a file, list, show, cancel, download.

The worker's side (split, score, merge) is services/bulk_scoring.py.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flask import current_app

from hcl_server.celery_app import enqueue_or_fail
from hcl_server.db import Job
from hcl_server.db.models import new_id
from hcl_server.db.params import BulkParams
from hcl_server.errors import Conflict, OutputFailed, Unprocessable
from hcl_server.extensions import db
from hcl_server.repositories import jobs
from hcl_server.services.datasets import save_upload
from hcl_server.services.jobs import admit, cancel_job
from hcl_server.services.reading import options_from_form
from hcl_server.services.scoring import production_model
from hcl_server.services.shadow import attach_states, shadow_version_id
from hcl_server.services.webhooks import job_failed
from hcl_server.storage import storage
from ml_pipeline.data.eventlog import EventLog
from ml_pipeline.data.options import ReadOptions
from ml_pipeline.data.sharding import load_shards


def result_prefix(job: Job) -> str:
    """The storage folder of a bulk job's shards and result files."""
    return f"orgs/{job.organization_id}/bulk/{job.id}"


def read_job_shards(job: Job, shards: list[int], folder: Path) -> EventLog:
    """The events of a split bulk job's ``shards`` (indices), downloaded into ``folder`` and read
    with the file's formats and the job's reading options (bad-row share, duplicates, event
    types, ...), the churn label declined as scoring declines it. Raises PipelineError for shards
    that do not read."""
    params = BulkParams.from_dict(job.params)
    paths = []
    for s in shards:
        paths.append(folder / f"shard-{s:05d}.arrow")
        storage().get_file(f"{result_prefix(job)}/shards/{s:05d}.arrow", paths[-1])
    return load_shards(
        paths,
        columns=params.columns,
        formats=params.formats,
        source=params.filename,
        options=ReadOptions.from_dict(params.read_options).for_scoring(),
    )


def create_bulk_job(org_id: str, upload, name: str | None, as_of: str | None, reading: dict) -> Job:
    """Store the upload, commit a queued job pinned to the current production model (and to the
    candidate to score in shadow, if any: services/shadow.py), with its reading options
    (``reading``: the form's fields, see services.reading), enqueue it.

    Raises Conflict without a production model, Invalid or UnsupportedFile for the upload,
    Unprocessable for a reading option ml_pipeline refuses, TooManyJobs at the organization's
    limit (services.jobs.admit).
    """
    options = options_from_form(reading)
    mv = production_model(org_id)
    priority = admit(org_id)
    job = Job(id=new_id(), organization_id=org_id, kind="bulk", model_version_id=mv.id)
    filename, key, size = save_upload(upload, org_id, "bulk", job.id)
    stored = StoredFile(filename=filename, storage_key=key, size_bytes=size)
    return _commit_and_enqueue(job, stored, name or filename, as_of, options.to_dict(), priority)


@dataclass(frozen=True)
class StoredFile:
    """An upload already in storage, as a bulk job's params name it."""

    filename: str
    storage_key: str
    size_bytes: int


def create_bulk_job_from_stored(
    org_id: str, stored: StoredFile, name: str, as_of: str | None, read_options: dict | None
) -> Job:
    """A bulk job over a file already in storage (a scheduled re-score of an earlier job's upload),
    pinned to the current production model (and candidate, as ``create_bulk_job``), with the given
    reading options (ReadOptions.to_dict());
    committed, then enqueued. Raises Conflict without a production model, TooManyJobs at the
    organization's limit."""
    mv = production_model(org_id)
    priority = admit(org_id)
    job = Job(id=new_id(), organization_id=org_id, kind="bulk", model_version_id=mv.id)
    return _commit_and_enqueue(job, stored, name, as_of, read_options, priority)


def _commit_and_enqueue(
    job: Job, stored: StoredFile, name: str, as_of: str | None, read_options: dict | None, priority: int
) -> Job:
    job.params = BulkParams(
        name=name,
        filename=stored.filename,
        storage_key=stored.storage_key,
        size_bytes=stored.size_bytes,
        as_of=as_of,
        partition_customers=current_app.config["BULK_PARTITION_CUSTOMERS"],
        read_options=read_options,
        shadow_model_version_id=shadow_version_id(job.organization_id, job.model_version_id),
    ).to_dict()
    db.session.add(job)
    db.session.commit()
    enqueue_or_fail(job, "hcl.bulk.split", job.id, priority=priority, on_failed=job_failed)
    return job


def get_bulk_job(org_id: str, job_id: str) -> Job:
    """The organization's bulk job with its model version and its shadow scoring's state
    (``shadow_state``, services.shadow.state); NotFound otherwise."""
    job = jobs.get_for_org(org_id, job_id, "bulk", "bulk job")
    attach_states([job])
    return job


def list_bulk_jobs(org_id: str, limit: int, offset: int) -> tuple[list[Job], int]:
    """The organization's bulk jobs, newest first, each with its ``shadow_state``: (one page, total)."""
    rows, total = jobs.page_for_org(org_id, "bulk", limit, offset)
    attach_states(rows)
    return rows, total


def cancel_bulk_job(org_id: str, job_id: str) -> Job:
    """Cancel a queued or running job; its tasks see the status and stop. Conflict if finished."""
    get_bulk_job(org_id, job_id)
    cancel_job(job_id, "bulk job")
    return get_bulk_job(org_id, job_id)  # the commit expired it: read it again with its version


def download(org_id: str, job_id: str, file_format: str) -> BinaryIO:
    """The job's predictions file ("csv" or "xlsx"), copied from storage and opened for reading;
    the temporary copy is already removed (the caller closes the file).

    Raises Conflict before success or while the Excel file is written, Unprocessable when the
    job has too many rows for Excel, OutputFailed when the Excel file could not be written.
    """
    job = get_bulk_job(org_id, job_id)
    if job.status != "succeeded":
        raise Conflict(f"bulk job {job.id} is {job.status}; results are ready when it has succeeded")
    key = (job.result or {}).get("files", {}).get(file_format)
    if key is None:
        state = (job.result or {}).get("xlsx")
        if state == "pending":
            raise Conflict("the Excel file is still being prepared; retry shortly, or download format=csv")
        if state == "too_many_rows":
            raise Unprocessable("too many rows for an Excel sheet; download format=csv")
        raise OutputFailed(
            (job.result or {}).get("xlsx_error") or "the Excel file could not be written; download format=csv"
        )
    folder = Path(tempfile.mkdtemp(prefix="hcl-download-"))
    try:
        path = folder / f"predictions.{file_format}"
        storage().get_file(key, path)
        # The open file outlives its folder (POSIX), so nothing is left behind once it is sent.
        return path.open("rb")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
