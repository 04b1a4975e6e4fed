"""Readiness: whether the database, the broker and the storage answer, each within a few seconds."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from flask import current_app

from hcl_server import repositories
from hcl_server.storage import storage

logger = logging.getLogger(__name__)

# Seconds each dependency has to answer: a load balancer polls /health/ready and must get an
# answer (503 naming the part) rather than a request that hangs with the part.
CHECK_TIMEOUT_S = 3.0


def _check_broker() -> None:
    celery = current_app.extensions["celery"]
    with celery.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


CHECKS: dict[str, Callable[[], None]] = {
    "database": repositories.ping,
    "broker": _check_broker,
    "storage": lambda: storage().ping(),
}


def bounded(check: Callable[[], None], timeout: float = CHECK_TIMEOUT_S) -> None:
    """Run ``check`` in the current app's context on a daemon thread; raise what it raises, or
    TimeoutError when it has not returned after ``timeout`` seconds.

    A check that hangs (a database or S3 endpoint that accepts connections but never answers) is
    left running on its thread, which ends with its own socket timeouts; the caller is not held.
    """
    app = current_app._get_current_object()
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            with app.app_context():  # its own database session, removed when the context ends
                check()
            outcome.append(None)
        except BaseException as exc:  # handed to the caller's thread
            outcome.append(exc)

    thread = threading.Thread(target=run, name="readiness-check", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise TimeoutError(f"no answer within {timeout:g} s")
    if outcome[0] is not None:
        raise outcome[0]


def first_failure(timeout: float = CHECK_TIMEOUT_S) -> tuple[str, Exception] | None:
    """The first dependency that does not answer within ``timeout`` seconds, with its exception
    (TimeoutError when it did not answer at all); None when all answer."""
    for name, check in CHECKS.items():
        try:
            bounded(check, timeout)
        except Exception as exc:  # any failure of a dependency means "not ready"
            logger.warning("readiness: %s failed: %s", name, exc)
            return name, exc
    return None
