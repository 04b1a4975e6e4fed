"""Organizations and their API keys."""

from __future__ import annotations

from sqlalchemy import null

from hcl_server.db import ApiKey, Organization
from hcl_server.db.models import utcnow
from hcl_server.extensions import db
from hcl_server.repositories import count, get_scoped, scoped


def add_with_key(name: str, key_hash: str, prefix: str) -> Organization:
    """Add an organization and one API key (its hash and first characters) to the session."""
    org = Organization(name=name)
    db.session.add(org)
    db.session.flush()  # the key row needs the organization's id
    db.session.add(ApiKey(organization_id=org.id, key_hash=key_hash, prefix=prefix))
    return org


def organization_for_key_hash(key_hash: str) -> str | None:
    """The id of the organization whose unrevoked key has this hash, or None."""
    found = active_key_by_hash(key_hash)
    return found.organization_id if found else None


def active_key_by_hash(key_hash: str):
    """The unrevoked key with this hash as a row (id, organization_id), or None. Reads the
    database on every call; services.orgs.key_for caches it under the lookup generation."""
    return db.session.execute(
        db.select(ApiKey.id, ApiKey.organization_id).where(
            ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None)
        )
    ).first()


def active_key_by_id(key_id: str):
    """The unrevoked key with this id as a row (id, organization_id), or None."""
    if "\x00" in key_id:
        return None
    return db.session.execute(
        db.select(ApiKey.id, ApiKey.organization_id).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
    ).first()


def get(org_id: str) -> Organization | None:
    """An organization by id, or None."""
    return None if "\x00" in org_id else db.session.get(Organization, org_id)


def lock(org_id: str) -> None:
    """Lock the organization's row until the transaction ends (PostgreSQL; SQLite serializes
    writers anyway), so that two requests cannot both revoke its last keys."""
    db.session.execute(db.select(Organization.id).where(Organization.id == org_id).with_for_update()).all()


def keys(org_id: str) -> list[ApiKey]:
    """The organization's API keys, revoked ones too, newest first."""
    return db.session.scalars(scoped(ApiKey, org_id).order_by(ApiKey.created_at.desc(), ApiKey.id)).all()


def get_key(org_id: str, key_id: str) -> ApiKey:
    """The organization's API key with this id; NotFound otherwise."""
    return get_scoped(ApiKey, org_id, key_id, "API key")


def add_key(org_id: str, key_hash: str, prefix: str) -> ApiKey:
    """Add an API key (its hash and first characters) for the organization to the session."""
    row = ApiKey(organization_id=org_id, key_hash=key_hash, prefix=prefix)
    db.session.add(row)
    db.session.flush()
    return row


def count_active_keys(org_id: str, *, besides: str | None = None) -> int:
    """The organization's unrevoked keys, leaving out the key ``besides``."""
    query = scoped(ApiKey, org_id).where(ApiKey.revoked_at.is_(None))
    if besides is not None:
        query = query.where(ApiKey.id != besides)
    return count(query)


def revoke_key(key_id: str) -> bool:
    """An unrevoked key -> revoked now; False if it was revoked already."""
    now = utcnow()
    result = db.session.execute(
        db.update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now, updated_at=now)
    )
    return result.rowcount == 1


def risk_thresholds(org_id: str) -> dict | None:
    """The organization's own risk thresholds, if it set any."""
    org = db.session.get(Organization, org_id)
    return org.risk_thresholds if org else None


def set_risk_thresholds(org_id: str, thresholds: dict | None) -> None:
    """The organization's own risk thresholds (None: the production model's apply)."""
    db.session.execute(
        db.update(Organization)
        .where(Organization.id == org_id)
        .values(risk_thresholds=null() if thresholds is None else thresholds)
    )


def drift_thresholds(org_id: str) -> dict | None:
    """The organization's own drift thresholds (overrides of the defaults), if it set any."""
    org = db.session.get(Organization, org_id)
    return org.drift_thresholds if org else None


def set_drift_thresholds(org_id: str, thresholds: dict | None) -> None:
    """The organization's own drift thresholds (None: the defaults apply)."""
    db.session.execute(
        db.update(Organization)
        .where(Organization.id == org_id)
        .values(drift_thresholds=null() if thresholds is None else thresholds)
    )
