"""Model aliases (production, candidate, any other name) and their append-only log.

Every change of an alias writes one log row in the same transaction. The ``production`` alias
and ``ModelVersion.is_production`` move together, in that transaction too: the production lookup
of every prediction reads the flag, and sees a promotion or rollback on its next request.
"""

from __future__ import annotations

import logging
import re

from sqlalchemy.exc import IntegrityError

from hcl_server.db import ModelAlias, ModelAliasEvent, ModelVersion
from hcl_server.db.models import utcnow
from hcl_server.errors import Conflict, NotFound, Unprocessable
from hcl_server.extensions import db
from hcl_server.repositories import model_aliases, model_versions

logger = logging.getLogger(__name__)

PRODUCTION, CANDIDATE = "production", "candidate"
ALIAS_NAME = re.compile(r"[a-z0-9_-]{1,40}")
ALIAS_RULE = "lowercase letters, digits, '-' and '_', at most 40 characters"


def check_alias(alias: str) -> str:
    """The alias name, or Unprocessable if it is not one."""
    if not ALIAS_NAME.fullmatch(alias):
        raise Unprocessable(
            f"alias {alias[:60]!r} is not a valid name: {ALIAS_RULE}", {"alias": [ALIAS_RULE]}
        )
    return alias


def list_aliases(org_id: str) -> list:
    """The organization's aliases (alias, version, updated_at), by name."""
    return model_aliases.listed(org_id)


def set_alias(org_id: str, alias: str, version: int, actor: str, reason: str | None = None) -> ModelVersion:
    """Point an alias at one of the organization's versions (logged); commits. NotFound for a
    version the organization does not have, Unprocessable for a bad alias name, Conflict if a
    concurrent request created the alias first."""
    check_alias(alias)
    mv = model_versions.get_for_org(org_id, version)
    move_and_commit(org_id, alias, mv, actor, reason)
    return mv


def put_alias(org_id: str, alias: str, version: int, actor: str, reason: str | None = None):
    """``set_alias``, answering the alias as a row (alias, version, updated_at)."""
    set_alias(org_id, alias, version, actor, reason)
    return model_aliases.listed(org_id, alias)[0]


def promote(org_id: str, version: int, actor: str, reason: str | None = None) -> ModelVersion:
    """Make a version the organization's production model (the previous one stays, demoted)."""
    return set_alias(org_id, PRODUCTION, version, actor, reason)


def remove_alias(org_id: str, alias: str, actor: str, reason: str | None = None) -> None:
    """Remove an alias (logged with no new version); commits. NotFound if it is not set.
    Removing ``production`` leaves the organization without a production model."""
    check_alias(alias)
    move(org_id, alias, None, actor, reason)
    db.session.commit()


def rollback(org_id: str, actor: str, reason: str | None = None) -> ModelVersion:
    """Point ``production`` back at the version it named before its latest change; commits.
    Conflict when there was none (the first production version, or one set by the migration)."""
    model_aliases.get_for_update(org_id, PRODUCTION)  # two rollbacks at once read the log in turn
    last = model_aliases.latest_event(org_id, PRODUCTION)
    if last is None or last.from_version is None:
        current = f"version {last.to_version}" if last and last.to_version else "no version"
        raise Conflict(
            f"no earlier production version to roll back to: production names {current} and named "
            "none before its latest change; promote a version with POST /api/v1/models/{version}/promote"
        )
    mv = model_versions.get_for_org(org_id, last.from_version)
    move_and_commit(org_id, PRODUCTION, mv, actor, f"rollback: {reason}" if reason else "rollback")
    return mv


def history(org_id: str, alias: str | None, limit: int, offset: int) -> tuple[list[ModelAliasEvent], int]:
    """The organization's alias log, newest first: (one page, the total count)."""
    return model_aliases.history_page(org_id, alias, limit, offset)


def on_registered(mv: ModelVersion, became_production: bool) -> None:
    """A training job registered ``mv`` (flushed): the rule of the day moves an alias (logged);
    does not commit. Production if the organization had none, else candidate."""
    if became_production:
        move(
            mv.organization_id,
            PRODUCTION,
            mv,
            "rule:no-production",
            "the organization had no production version",
        )
    else:
        move(mv.organization_id, CANDIDATE, mv, "rule:retrained", "a new version was trained")


def move_and_commit(org_id: str, alias: str, mv: ModelVersion, actor: str, reason: str | None) -> None:
    """``move``, then commit; Conflict if a concurrent request created the same new alias first
    (the row lock of ``move`` serializes changes of an existing one)."""
    try:
        move(org_id, alias, mv, actor, reason)
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict(f"alias {alias} was created by another request meanwhile; send it again") from exc
    db.session.commit()


def move(org_id: str, alias: str, mv: ModelVersion | None, actor: str, reason: str | None) -> None:
    """Point ``alias`` at ``mv`` (None: remove it), keep ``is_production`` in step, log the
    change; flushes, does not commit. Pointing it where it already points changes nothing."""
    row = model_aliases.get_for_update(org_id, alias)
    before = model_aliases.version_of(org_id, alias) if row is not None else None
    if mv is None:
        if row is None:
            raise NotFound(f"alias {alias} not found")
        db.session.delete(row)
    elif row is None:
        db.session.add(ModelAlias(organization_id=org_id, alias=alias, model_version_id=mv.id))
    elif row.model_version_id == mv.id:
        return
    else:
        row.model_version_id = mv.id
    if alias == PRODUCTION:
        model_versions.demote_all(org_id)
        if mv is not None:
            mv.is_production, mv.promoted_at = True, utcnow()
    after = None if mv is None else mv.version
    model_aliases.log(org_id, alias, before, after, actor, reason)
    db.session.flush()
    logger.info(
        "org %s: alias %s moved from version %s to %s by %s",
        org_id,
        alias,
        before,
        after,
        actor,
        extra={"org_id": org_id},
    )
