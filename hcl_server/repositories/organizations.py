"""Organizations and their API keys."""

from __future__ import annotations

from sqlalchemy import null

from hcl_server.db import ApiKey, Organization
from hcl_server.extensions import db


def add_with_key(name: str, key_hash: str, prefix: str) -> Organization:
    """Add an organization and one API key (its hash and first characters) to the session."""
    org = Organization(name=name)
    db.session.add(org)
    db.session.flush()  # the key row needs the organization's id
    db.session.add(ApiKey(organization_id=org.id, key_hash=key_hash, prefix=prefix))
    return org


def organization_for_key_hash(key_hash: str) -> str | None:
    """The id of the organization whose unrevoked key has this hash, or None."""
    return db.session.scalar(
        db.select(ApiKey.organization_id).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    )


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
