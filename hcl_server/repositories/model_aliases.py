"""The organization's model aliases and their append-only log (never updated or deleted here)."""

from __future__ import annotations

from hcl_server.db import ModelAlias, ModelAliasEvent, ModelVersion
from hcl_server.extensions import db
from hcl_server.repositories import count, scoped


def get_for_update(org_id: str, alias: str) -> ModelAlias | None:
    """The organization's alias row, locked until the transaction ends (PostgreSQL; SQLite's
    writes are serialized anyway), so two changes of one alias log the version each replaced."""
    return db.session.scalar(scoped(ModelAlias, org_id).where(ModelAlias.alias == alias).with_for_update())


def listed(org_id: str, alias: str | None = None) -> list:
    """The organization's aliases (or the one named) as rows (alias, version, updated_at), by name."""
    query = (
        db.select(ModelAlias.alias, ModelVersion.version, ModelAlias.updated_at)
        .join(ModelVersion, ModelVersion.id == ModelAlias.model_version_id)
        .where(ModelAlias.organization_id == org_id)
    )
    if alias is not None:
        query = query.where(ModelAlias.alias == alias)
    return db.session.execute(query.order_by(ModelAlias.alias)).all()


def version_of(org_id: str, alias: str) -> int | None:
    """The version number the alias names, or None."""
    return db.session.scalar(
        db.select(ModelVersion.version)
        .join(ModelAlias, ModelAlias.model_version_id == ModelVersion.id)
        .where(ModelAlias.organization_id == org_id, ModelAlias.alias == alias)
    )


def log(
    org_id: str, alias: str, from_version: int | None, to_version: int | None, actor: str, reason
) -> None:
    """Append one row to the alias log (flushed with the change it records)."""
    db.session.add(
        ModelAliasEvent(
            organization_id=org_id,
            alias=alias,
            from_version=from_version,
            to_version=to_version,
            actor=actor,
            reason=reason,
        )
    )


def latest_event(org_id: str, alias: str) -> ModelAliasEvent | None:
    """The alias's most recent log row, or None."""
    return db.session.scalar(
        scoped(ModelAliasEvent, org_id)
        .where(ModelAliasEvent.alias == alias)
        .order_by(ModelAliasEvent.id.desc())
        .limit(1)
    )


def history_page(
    org_id: str, alias: str | None, limit: int, offset: int
) -> tuple[list[ModelAliasEvent], int]:
    """The organization's alias log, newest first: (one page, the total count)."""
    query = scoped(ModelAliasEvent, org_id)
    if alias is not None:
        query = query.where(ModelAliasEvent.alias == alias)
    rows = db.session.scalars(query.order_by(ModelAliasEvent.id.desc()).limit(limit).offset(offset)).all()
    return rows, count(query)


def model_version_id_of(org_id: str, alias: str) -> str | None:
    """The id of the version the alias names, or None."""
    return db.session.scalar(
        scoped(ModelAlias, org_id)
        .where(ModelAlias.alias == alias)
        .with_only_columns(ModelAlias.model_version_id)
    )
