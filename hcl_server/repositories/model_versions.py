"""Trained model versions of each organization (one of them may be production)."""

from __future__ import annotations

from sqlalchemy import func, update

from hcl_server.db import ModelVersion, Organization
from hcl_server.errors import NotFound
from hcl_server.extensions import db
from hcl_server.repositories import scoped

MAX_VERSION = 2**31 - 1  # the version column is a 32-bit integer


def list_for_org(org_id: str) -> list[ModelVersion]:
    """The organization's versions, newest first."""
    return db.session.scalars(scoped(ModelVersion, org_id).order_by(ModelVersion.version.desc())).all()


def get_for_org(org_id: str, version: int) -> ModelVersion:
    """The organization's version by number; NotFound otherwise (also for a number no column
    can hold, which the database would refuse with an overflow)."""
    if not 0 < version <= MAX_VERSION:
        raise NotFound(f"model version {version} not found")
    mv = db.session.scalar(scoped(ModelVersion, org_id).where(ModelVersion.version == version))
    if mv is None:
        raise NotFound(f"model version {version} not found")
    return mv


def get(model_version_id: str) -> ModelVersion | None:
    """A version by id, for the worker."""
    return db.session.get(ModelVersion, model_version_id)


def production(org_id: str) -> ModelVersion | None:
    """The organization's production version, or None."""
    return db.session.scalar(scoped(ModelVersion, org_id).where(ModelVersion.is_production.is_(True)))


def production_for_scoring(org_id: str):
    """The production version's (id, version, storage_prefix, risk_thresholds of the organization)
    as one row, or None.

    Only the columns scoring needs: loading the ORM objects would decode their JSON columns
    (metrics, metadata) on every prediction request.
    """
    return db.session.execute(
        scoped(ModelVersion, org_id)
        .with_only_columns(
            ModelVersion.id, ModelVersion.version, ModelVersion.storage_prefix, Organization.risk_thresholds
        )
        .join(Organization, Organization.id == ModelVersion.organization_id)
        .where(ModelVersion.is_production.is_(True))
    ).first()


def next_version(org_id: str) -> int:
    """One more than the organization's highest version number (1 for the first)."""
    highest = db.session.scalar(
        db.select(func.max(ModelVersion.version)).where(ModelVersion.organization_id == org_id)
    )
    return (highest or 0) + 1


def has_production(org_id: str) -> bool:
    """Whether the organization has a production version."""
    return bool(
        db.session.scalar(
            db.select(func.count()).where(
                ModelVersion.organization_id == org_id, ModelVersion.is_production.is_(True)
            )
        )
    )


def demote_all(org_id: str) -> None:
    """No version of the organization is production (before one is promoted)."""
    db.session.execute(
        update(ModelVersion).where(ModelVersion.organization_id == org_id).values(is_production=False)
    )
