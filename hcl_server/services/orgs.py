"""Organizations and API keys: create, look up, list, revoke and rotate keys."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from hcl_server.db import ApiKey, Organization
from hcl_server.errors import Conflict, NotFound
from hcl_server.extensions import db
from hcl_server.generation import LookupCache, current_generation
from hcl_server.repositories import organizations

# Unrevoked keys one organization may hold: each is a way in, and rows should not grow unbounded.
MAX_ACTIVE_KEYS = 20
_KEYS = LookupCache()
PREFIX_CHARS = 12  # "hcl_" and 8 random characters: shown in listings to tell keys apart


@dataclass(frozen=True)
class KeyRef:
    """An unrevoked API key as a request knows it: the key's id and its organization's."""

    id: str
    organization_id: str


@dataclass(frozen=True)
class IssuedKey:
    """A key just created: its row and the key itself, which is never shown again; ``replaces``
    is the key a rotation revoked."""

    row: ApiKey
    api_key: str
    replaces: ApiKey | None = None


def hash_key(key: str) -> str:
    """Keys are stored as their SHA-256; they are long random strings, so no salt is needed."""
    return hashlib.sha256(key.encode()).hexdigest()


def _new_key() -> str:
    return f"hcl_{secrets.token_urlsafe(32)}"


def create_organization(name: str) -> tuple[Organization, str]:
    """Create an organization with one API key; returns (organization, plaintext key)."""
    key = _new_key()
    org = organizations.add_with_key(name, hash_key(key), key[:PREFIX_CHARS])
    db.session.commit()
    return org, key


def organization_for_key(key: str | None) -> str | None:
    """The organization id an API key belongs to, or None."""
    found = key_for(key)
    return found.organization_id if found else None


def key_for(key: str | None) -> KeyRef | None:
    """The unrevoked API key ``key`` (the plaintext a client sent) as a KeyRef, or None for no
    key, an unknown one or a revoked one.

    A key found is kept in this process's memory under the shared lookup generation, which any
    key change bumps (hcl_server/generation.py): a revoked key is refused from the next request
    on. Unknown keys are not kept, so guessing cannot fill the memory.
    """
    if not key or "\x00" in key:
        return None
    digest = hash_key(key)
    generation = current_generation()
    cached, ref = _KEYS.get(digest, generation)
    if cached:
        return ref
    found = organizations.active_key_by_hash(digest)
    if found is None:
        return None
    ref = KeyRef(found.id, found.organization_id)
    _KEYS.put(digest, generation, ref)
    return ref


def key_by_id(key_id: str | None) -> KeyRef | None:
    """The unrevoked API key with id ``key_id`` as a KeyRef, or None (no id, unknown, revoked):
    what a signed-in web page holds instead of the key itself. Read from the database on every
    call, so a revoked key signs its pages out at once."""
    if not key_id:
        return None
    found = organizations.active_key_by_id(key_id)
    return KeyRef(found.id, found.organization_id) if found else None


def key_summary(row: ApiKey) -> dict:
    """What may be shown of a key: ``{id, prefix, created_at, revoked_at, active}`` (never the key
    or its hash)."""
    return {
        "id": row.id,
        "prefix": row.prefix,
        "created_at": row.created_at,
        "revoked_at": row.revoked_at,
        "active": row.revoked_at is None,
    }


def list_api_keys(org_id: str) -> list[ApiKey]:
    """The organization's API keys, revoked ones too, newest first. NotFound for no such
    organization."""
    _organization(org_id)
    return organizations.keys(org_id)


def create_api_key(org_id: str) -> IssuedKey:
    """A new API key for the organization; the plaintext is in the answer only. Raises NotFound
    for no such organization, Conflict when it already has ``MAX_ACTIVE_KEYS`` unrevoked keys."""
    _organization(org_id)
    organizations.lock(org_id)
    if organizations.count_active_keys(org_id) >= MAX_ACTIVE_KEYS:
        raise Conflict(
            f"the organization already has {MAX_ACTIVE_KEYS} active API keys, the most it may hold; "
            "revoke one first (POST /api/v1/api-keys/{id}/revoke)"
        )
    issued = _issue(org_id)
    db.session.commit()
    return issued


def revoke_api_key(org_id: str, key_id: str, *, allow_last: bool = False) -> ApiKey:
    """Revoke one of the organization's keys: from the next request on it answers 401.

    The organization's last active key is not revoked (Conflict: nothing could use the API
    after it) unless ``allow_last`` (the command line's ``--force``). Raises NotFound for another
    organization's key or no such key, Conflict for a key already revoked.
    """
    row = organizations.get_key(org_id, key_id)
    organizations.lock(org_id)
    if row.revoked_at is not None:
        raise Conflict(f"API key {key_id} was already revoked at {row.revoked_at.isoformat()}")
    if not allow_last and organizations.count_active_keys(org_id, besides=key_id) == 0:
        raise Conflict(
            f"API key {key_id} is the organization's last active key: revoking it would leave no "
            "way to use the API. Create another key first (POST /api/v1/api-keys), or rotate this "
            f"one (POST /api/v1/api-keys/{key_id}/rotate)"
        )
    if not organizations.revoke_key(key_id):
        raise Conflict(f"API key {key_id} was already revoked")
    db.session.commit()
    return organizations.get_key(org_id, key_id)


def rotate_api_key(org_id: str, key_id: str) -> IssuedKey:
    """Replace one of the organization's keys: a new key is created and the old one revoked in
    the same transaction (the old one answers 401 from the next request on). Raises NotFound for
    another organization's key or no such key, Conflict for a key already revoked."""
    row = organizations.get_key(org_id, key_id)
    organizations.lock(org_id)
    if row.revoked_at is not None or not organizations.revoke_key(key_id):
        raise Conflict(f"API key {key_id} is revoked: create a new key with POST /api/v1/api-keys")
    issued = _issue(org_id)
    db.session.commit()
    return IssuedKey(issued.row, issued.api_key, replaces=organizations.get_key(org_id, key_id))


def _issue(org_id: str) -> IssuedKey:
    key = _new_key()
    return IssuedKey(organizations.add_key(org_id, hash_key(key), key[:PREFIX_CHARS]), key)


def _organization(org_id: str) -> Organization:
    org = organizations.get(org_id)
    if org is None:
        raise NotFound(f"organization {org_id} not found")
    return org
