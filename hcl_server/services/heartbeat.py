"""Heartbeats: a running task proves it is alive by writing its row's ``heartbeat_at``.

A daemon thread writes it every ``JOB_HEARTBEAT_S`` seconds on a connection of its own, so a
step that computes for minutes without reporting progress still looks alive, and a worker that
is killed stops beating at once. The reconciler (services/reconcile.py) re-sends the task of a
row whose heartbeat is older than ``JOB_STALE_S``, and a redelivered task takes the row over when
its heartbeat is older than two beats (services/jobs.py).

Each UPDATE names the row as this delivery claimed it (status, and the attempt number the claim
returned, a fencing token): once the row is cancelled, failed or taken over by another delivery
the UPDATE matches nothing, the heartbeat is ``lost`` and the step stops at its next progress
report (``check``).
"""

from __future__ import annotations

import logging
import threading
from contextvars import ContextVar

from flask import current_app
from sqlalchemy import update

from hcl_server.db.models import utcnow
from hcl_server.extensions import db

logger = logging.getLogger(__name__)
_CURRENT: ContextVar[Heartbeat | None] = ContextVar("heartbeat", default=None)


class Stopped(Exception):  # noqa: N818 - it is an outcome, not an error of the code
    """The row this step works on was cancelled, failed or taken over meanwhile: stop quietly."""


class Heartbeat:
    """A context manager that beats for one row while the block runs.

    ``table`` is a mapped class; ``conditions`` are the WHERE clauses that identify the row as
    this delivery holds it (e.g. ``Job.id == id, Job.status == "running", Job.attempts == n``).
    """

    def __init__(self, table, *conditions, every_s: float | None = None):
        self.table, self.conditions = table, conditions
        self.every_s = float(every_s or current_app.config["JOB_HEARTBEAT_S"])
        self.engine = db.engine
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def beat(self) -> bool:
        """Write the heartbeat once; False when the row no longer matches (lost)."""
        with self.engine.begin() as conn:
            result = conn.execute(update(self.table).where(*self.conditions).values(heartbeat_at=utcnow()))
        return result.rowcount == 1

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                if not self.beat():
                    self.lost = True
                    return
            except Exception as exc:  # the database is briefly away: try again at the next beat
                logger.warning("heartbeat of %s failed: %s", self.table.__tablename__, exc)

    def __enter__(self) -> Heartbeat:
        self._token = _CURRENT.set(self)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        _CURRENT.reset(self._token)


def check() -> None:
    """Raise Stopped when the current step's row was cancelled, failed or taken over (its
    heartbeat matched no row); a no-op outside a heartbeat."""
    beat = _CURRENT.get()
    if beat is not None and beat.lost:
        raise Stopped(f"{beat.table.__tablename__[:-1]} was cancelled, failed or taken over meanwhile")
