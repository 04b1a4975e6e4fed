"""Uploading event logs: store the file, record the dataset, profile it in a worker."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from werkzeug.datastructures import FileStorage

from hcl_server.api.errors import ApiError
from hcl_server.db import Dataset
from hcl_server.db.models import new_id
from hcl_server.extensions import db
from hcl_server.storage import storage
from hcl_server.tasks.queue import enqueue

ALLOWED_SUFFIXES = (".csv", ".tsv", ".txt", ".gz", ".xlsx", ".xlsm", ".parquet", ".pq")


def parse_mapping(raw: str | None) -> dict | None:
    """The optional column_mapping form field: a JSON object {field: header}."""
    if not raw:
        return None
    try:
        mapping = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"column_mapping is not valid JSON: {exc}") from exc
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise ApiError(400, 'column_mapping must be a JSON object like {"customer_id": "Kunde"}')
    return mapping


def save_upload(upload: FileStorage | None, org_id: str, kind: str, row_id: str) -> tuple[str, str, int]:
    """Check and store an uploaded file; returns (filename, storage key, size)."""
    if upload is None or not upload.filename:
        raise ApiError(400, "no file: send the event log as multipart form field 'file'")
    filename = Path(upload.filename).name
    if not filename.lower().endswith(ALLOWED_SUFFIXES):
        raise ApiError(415, f"{filename}: unsupported file type; send CSV (optionally .gz), .xlsx or Parquet")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / filename
        upload.save(path)
        size = path.stat().st_size
        if size == 0:
            raise ApiError(400, f"{filename}: the file is empty")
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
