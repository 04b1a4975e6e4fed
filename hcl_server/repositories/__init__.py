"""Every query, in one room per table; scoped by organization where a client asks; never commits.

Services own the transaction: they call these functions, then commit or roll back.
"""

from __future__ import annotations

from typing import TypeVar

from hcl_server.errors import NotFound
from hcl_server.extensions import db

T = TypeVar("T")


def scoped(model: type[T], org_id: str):
    """SELECT of ``model`` rows that belong to the organization."""
    return db.select(model).where(model.organization_id == org_id)


def get_scoped(model: type[T], org_id: str, row_id: str, what: str, query=None) -> T:
    """The organization's row with this id (``query`` narrows or eager-loads the SELECT).

    Raises NotFound, whose message does not reveal whether another organization has that id.
    """
    query = scoped(model, org_id) if query is None else query
    # No stored text holds a NUL character (PostgreSQL refuses one, even in a query's parameter,
    # which answered 500): such an id names no row.
    row = None if "\x00" in row_id else db.session.scalar(query.where(model.id == row_id))
    if row is None:
        raise NotFound(f"{what} {row_id} not found")
    return row


def count(query) -> int:
    """Rows a SELECT would return."""
    return db.session.scalar(db.select(db.func.count()).select_from(query.subquery()))


def ping() -> None:
    """Raise if the database does not answer."""
    db.session.execute(db.text("SELECT 1"))
