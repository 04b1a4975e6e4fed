"""Queries, always scoped by organization; they never commit."""

from __future__ import annotations

from typing import TypeVar

from hcl_server.api.errors import ApiError
from hcl_server.extensions import db

T = TypeVar("T")


def scoped(model: type[T], org_id: str):
    """SELECT of ``model`` rows that belong to the organization."""
    return db.select(model).where(model.organization_id == org_id)


def get_scoped(model: type[T], org_id: str, row_id: str, what: str) -> T:
    """The organization's row with this id, or a 404 that does not reveal other organizations' ids."""
    row = db.session.scalar(scoped(model, org_id).where(model.id == row_id))
    if row is None:
        raise ApiError(404, f"{what} {row_id} not found")
    return row
