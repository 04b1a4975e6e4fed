"""Organizations and API keys."""

from __future__ import annotations

import hashlib
import secrets

from hcl_server.db import ApiKey, Organization
from hcl_server.extensions import db


def hash_key(key: str) -> str:
    """Keys are stored as their SHA-256; they are long random strings, so no salt is needed."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_organization(name: str) -> tuple[Organization, str]:
    """Create an organization with one API key; returns (organization, plaintext key)."""
    org = Organization(name=name)
    key = f"hcl_{secrets.token_urlsafe(32)}"
    db.session.add(org)
    db.session.flush()
    db.session.add(ApiKey(organization_id=org.id, key_hash=hash_key(key), prefix=key[:12]))
    db.session.commit()
    return org, key


def organization_for_key(key: str | None) -> str | None:
    """The organization id an API key belongs to, or None."""
    if not key:
        return None
    return db.session.scalar(
        db.select(ApiKey.organization_id).where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))
    )
