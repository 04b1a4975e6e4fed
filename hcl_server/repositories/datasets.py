"""Uploaded event logs."""

from __future__ import annotations

from hcl_server.db import Dataset
from hcl_server.extensions import db
from hcl_server.repositories import get_scoped, scoped


def list_for_org(org_id: str) -> list[Dataset]:
    """The organization's datasets, newest first."""
    return db.session.scalars(scoped(Dataset, org_id).order_by(Dataset.created_at.desc())).all()


def get_for_org(org_id: str, dataset_id: str) -> Dataset:
    """The organization's dataset; NotFound otherwise."""
    return get_scoped(Dataset, org_id, dataset_id, "dataset")


def get(dataset_id: str) -> Dataset | None:
    """A dataset by id, for the worker."""
    return db.session.get(Dataset, dataset_id)


def latest_succeeded(org_id: str) -> Dataset | None:
    """The organization's newest dataset that was read (profiled) successfully, or None."""
    query = scoped(Dataset, org_id).where(Dataset.status == "succeeded").order_by(Dataset.created_at.desc())
    return db.session.scalars(query.limit(1)).first()
