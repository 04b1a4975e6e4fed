"""Event logs: store an upload, record the dataset, profile it in a worker; list and show them."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from werkzeug.datastructures import FileStorage

from hcl_server.celery_app import enqueue
from hcl_server.db import Dataset
from hcl_server.db.models import new_id
from hcl_server.errors import Invalid, UnsupportedFile
from hcl_server.extensions import db
from hcl_server.repositories import datasets
from hcl_server.storage import storage
from ml_pipeline.data.eventlog import EventLog, load_events
from ml_pipeline.data.profiling import profile

ALLOWED_SUFFIXES = (".csv", ".tsv", ".txt", ".gz", ".xlsx", ".xlsm", ".parquet", ".pq")


def parse_mapping(raw: str | None) -> dict | None:
    """The optional column_mapping form field: a JSON object {field: header}; Invalid otherwise."""
    if not raw:
        return None
    try:
        mapping = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise Invalid(f"column_mapping is not valid JSON: {exc}") from exc
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise Invalid('column_mapping must be a JSON object like {"customer_id": "Kunde"}')
    return mapping


def save_upload(upload: FileStorage | None, org_id: str, kind: str, row_id: str) -> tuple[str, str, int]:
    """Check and store an uploaded file; returns (filename, storage key, size in bytes).

    Raises Invalid for a missing or empty file, UnsupportedFile for a type ml_pipeline cannot read.
    """
    if upload is None or not upload.filename:
        raise Invalid("no file: send the event log as multipart form field 'file'")
    filename = Path(upload.filename).name
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


def create_dataset(
    org_id: str, upload: FileStorage | None, name: str | None, mapping_raw: str | None
) -> Dataset:
    """Store the upload, commit the dataset row, then enqueue its profiling."""
    mapping = parse_mapping(mapping_raw)
    dataset = Dataset(id=new_id(), organization_id=org_id, name="", filename="", storage_key="", size_bytes=0)
    filename, key, size = save_upload(upload, org_id, "datasets", dataset.id)
    dataset.name, dataset.filename, dataset.storage_key, dataset.size_bytes = (
        name or filename,
        filename,
        key,
        size,
    )
    dataset.column_mapping = mapping
    db.session.add(dataset)
    db.session.commit()
    enqueue("hcl.datasets.profile", dataset.id)
    return dataset


def list_datasets(org_id: str) -> list[Dataset]:
    """The organization's datasets, newest first."""
    return datasets.list_for_org(org_id)


def get_dataset(org_id: str, dataset_id: str) -> Dataset:
    """The organization's dataset; NotFound otherwise."""
    return datasets.get_for_org(org_id, dataset_id)


def read_events(dataset: Dataset, folder: Path) -> EventLog:
    """The dataset's stored file, downloaded into ``folder`` and read with its column mapping.

    Raises ml_pipeline's PipelineError when the file cannot be read as an event log.
    """
    path = folder / dataset.filename
    storage().get_file(dataset.storage_key, path)
    return load_events(path, column_mapping=dataset.column_mapping)


def profile_dataset(dataset: Dataset) -> None:
    """Read a claimed dataset's file and record its profile and warnings; commits."""
    with tempfile.TemporaryDirectory() as tmp:
        log = read_events(dataset, Path(tmp))
    dataset.profile = profile(log)
    dataset.warnings = dataset.profile.pop("warnings")
    dataset.status = "succeeded"
    db.session.commit()
