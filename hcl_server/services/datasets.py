"""Event logs: store an upload, record the dataset, profile it in a worker; list and show them."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from flask import current_app
from werkzeug.datastructures import FileStorage

from hcl_server.celery_app import enqueue_or_fail
from hcl_server.db import Dataset
from hcl_server.db.models import new_id
from hcl_server.errors import Invalid, UnsupportedFile
from hcl_server.extensions import db
from hcl_server.repositories import datasets
from hcl_server.services.jobs import admit
from hcl_server.services.reading import api_messages, api_worded, options_from_form
from hcl_server.services.webhooks import job_ended, job_failed
from hcl_server.storage import storage
from ml_pipeline.data.eventlog import EventLog, load_events
from ml_pipeline.data.options import ReadOptions
from ml_pipeline.data.profiling import profile

ALLOWED_SUFFIXES = (".csv", ".tsv", ".txt", ".gz", ".xlsx", ".xlsm", ".parquet", ".pq")


NAME_LENGTH = 300  # the longest name of a dataset or a bulk job (Dataset.name's column)
MAX_FILENAME_BYTES = 120
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]")


def safe_filename(name: str) -> str:
    """The client's file name as this service keeps it: its last path part, without control
    characters or backslashes, and at most MAX_FILENAME_BYTES bytes (a longer stem is cut short
    and marked "~", the extension kept). It becomes a local file name and part of a storage key, so a
    client's name can never make a path too long or reach outside the folder."""
    name = _UNSAFE.sub("_", Path(name.replace("\\", "/")).name).strip() or "upload"
    if len(name.encode()) <= MAX_FILENAME_BYTES:
        return name
    suffix = next(
        (s for s in sorted(ALLOWED_SUFFIXES, key=len, reverse=True) if name.lower().endswith(s)), ""
    )
    stem = name[: len(name) - len(suffix)]
    while len((stem + "~" + suffix).encode()) > MAX_FILENAME_BYTES:
        stem = stem[:-1]
    return stem + "~" + suffix


def save_upload(upload: FileStorage | None, org_id: str, kind: str, row_id: str) -> tuple[str, str, int]:
    """Check and store an uploaded file; returns (filename, storage key, size in bytes).

    Raises Invalid for a missing or empty file, UnsupportedFile for a type ml_pipeline cannot read.
    """
    if upload is None or not upload.filename:
        raise Invalid("no file: send the event log as multipart form field 'file'")
    filename = safe_filename(upload.filename)
    if not filename.lower().endswith(ALLOWED_SUFFIXES):
        raise UnsupportedFile(
            f"{filename}: unsupported file type; send CSV (optionally .gz), .xlsx or Parquet"
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / filename
        upload.save(path)
        size = path.stat().st_size
        if size == 0:
            raise Invalid(f"{filename}: the file is empty")
        key = f"orgs/{org_id}/{kind}/{row_id}/{filename}"
        storage().put_file(key, path)
    return filename, key, size


def create_dataset(org_id: str, upload: FileStorage | None, name: str | None, reading: dict) -> Dataset:
    """Store the upload, commit the dataset row with its reading options (``reading``: the form's
    fields, see services.reading), then enqueue its profiling. Raises TooManyJobs at the
    organization's limit (services.jobs.admit)."""
    options = options_from_form(reading)
    priority = admit(org_id)
    dataset = Dataset(id=new_id(), organization_id=org_id, name="", filename="", storage_key="", size_bytes=0)
    filename, key, size = save_upload(upload, org_id, "datasets", dataset.id)
    dataset.name, dataset.filename, dataset.storage_key, dataset.size_bytes = (
        name or filename,
        filename,
        key,
        size,
    )
    dataset.read_options = options.to_dict()
    dataset.column_mapping = options.column_mapping
    db.session.add(dataset)
    db.session.commit()
    enqueue_or_fail(dataset, "hcl.datasets.profile", dataset.id, priority=priority, on_failed=job_failed)
    return dataset


def list_datasets(org_id: str) -> list[Dataset]:
    """The organization's datasets, newest first."""
    return datasets.list_for_org(org_id)


def get_dataset(org_id: str, dataset_id: str) -> Dataset:
    """The organization's dataset; NotFound otherwise."""
    return datasets.get_for_org(org_id, dataset_id)


def dataset_options(dataset: Dataset) -> ReadOptions:
    """The reading options given with the dataset's upload (a row stored before ``read_options``
    had only its column mapping)."""
    if dataset.read_options is not None:
        return ReadOptions.from_dict(dataset.read_options)
    return ReadOptions(column_mapping=dataset.column_mapping)


def read_events(dataset: Dataset, folder: Path) -> EventLog:
    """The dataset's stored file, downloaded into ``folder`` and read with its reading options.

    Raises ml_pipeline's PipelineError when the file cannot be read as an event log.
    """
    path = folder / dataset.filename
    storage().get_file(dataset.storage_key, path)
    return load_events(path, dataset_options(dataset), max_inflated_mb=current_app.config["MAX_INFLATED_MB"])


def profile_dataset(dataset: Dataset) -> None:
    """Read a claimed dataset's file and record its profile and warnings, worded for the API
    (its form fields where ml_pipeline names a CLI flag), with its webhook event; commits."""
    with tempfile.TemporaryDirectory() as tmp:
        log = read_events(dataset, Path(tmp))
    found = profile(log)
    dataset.warnings = api_messages(found.pop("warnings"))
    if "reading" in found:  # what was decided about each column, with the way to change it
        found["reading"] = api_worded(found["reading"])
    dataset.profile = found
    dataset.status = "succeeded"
    job_ended(dataset, "succeeded")
    db.session.commit()
