"""Readiness: whether the database, the broker and the storage answer."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import current_app

from hcl_server import repositories
from hcl_server.storage import storage

logger = logging.getLogger(__name__)


def _check_broker() -> None:
    celery = current_app.extensions["celery"]
    with celery.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


CHECKS: dict[str, Callable[[], None]] = {
    "database": repositories.ping,
    "broker": _check_broker,
    "storage": lambda: storage().ping(),
}


def first_failure() -> tuple[str, Exception] | None:
    """The first dependency that does not answer, with its exception; None when all answer."""
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:  # any failure of a dependency means "not ready"
            logger.warning("readiness: %s failed: %s", name, exc)
            return name, exc
    return None
