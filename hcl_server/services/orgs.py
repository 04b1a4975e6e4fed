"""Organizations and API keys."""

from __future__ import annotations

import hashlib
import secrets

from hcl_server.db import Organization
from hcl_server.extensions import db
from hcl_server.repositories import organizations


def hash_key(key: str) -> str:
    """Keys are stored as their SHA-256; they are long random strings, so no salt is needed."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_organization(name: str) -> tuple[Organization, str]:
    """Create an organization with one API key; returns (organization, plaintext key)."""
    key = f"hcl_{secrets.token_urlsafe(32)}"
    org = organizations.add_with_key(name, hash_key(key), key[:12])
    db.session.commit()
    return org, key


def organization_for_key(key: str | None) -> str | None:
    """The organization id an API key belongs to, or None."""
    if not key:
        return None
    return organizations.organization_for_key_hash(hash_key(key))
