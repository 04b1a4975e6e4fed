"""The reconciler: every piece of work ends, even when its message or its worker is lost.

Each unit of work is a row: a dataset to profile, a job to split or train, a bulk partition to
score, a merge, an Excel file, a drift report. One pass looks at every unfinished unit:

- waiting (queued, pending) for longer than ``JOB_STALE_S`` with no message for it in the
  broker's queue: the message was lost (a Redis restarted without persistence, a worker of the
  embedded broker killed after taking it, a broker that was down when the task was sent) ->
  the task is sent again;
- running with a heartbeat older than ``JOB_STALE_S``: its worker died (a whole worker killed,
  whose message Redis would give back only after its visibility timeout) -> the task is sent
  again, and the new delivery takes the row over by its stale heartbeat, counting the attempt
  (the third death fails the row with the reason, services.jobs.claim);
- a bulk job whose partitions are all done but whose merge was never sent -> the merge is sent;
- a succeeded bulk job's drift report still pending ``JOB_STALE_S`` after it was last sent, with
  no message for it in the queue (the broker was down at the merge, or the message was lost) ->
  the drift task is sent again (a report already written is left alone by a second delivery);
- a partition of a succeeded bulk job with a candidate to score in shadow, whose shadow outcome
  is not recorded, with no live shadow task (a heartbeat older than ``JOB_STALE_S``) and no
  message for it in the queue -> its shadow task is sent again (services/shadow_scoring.py);
- a pending webhook delivery whose next attempt was due more than ``JOB_STALE_S`` ago with no
  message for it in the queue (its task was lost, or the worker sending it died) -> its task is
  sent again and its due time restarted.

Every task claims its row with a conditional UPDATE, so a message sent twice does no harm: the
second delivery finds the row taken or finished and skips it.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta

from flask import current_app

from hcl_server.celery_app import enqueue, waiting_tasks
from hcl_server.db import BulkPartition, Dataset, Job
from hcl_server.db.models import utcnow
from hcl_server.errors import Unavailable
from hcl_server.extensions import db
from hcl_server.repositories import drift_reports, jobs, partitions, webhooks
from hcl_server.services.bulk_drift import DRIFT_PRIORITY, DRIFT_TASK
from hcl_server.services.bulk_scoring import (
    EXCEL_PRIORITY,
    SHADOW_PRIORITY,
    SHADOW_TASK,
    merge_when_all_done,
)
from hcl_server.services.webhooks import DELIVER_TASK

logger = logging.getLogger(__name__)
FIRST_STEP = {"training": "hcl.training.run", "bulk": "hcl.bulk.split"}


def reconcile() -> Counter:
    """One pass over unfinished work (see the module docstring); commits.

    Returns how many tasks it sent, by task name (and "merge_triggered"). When the broker does not
    answer it logs that and sends nothing: the next pass tries again.
    """
    try:
        waiting = waiting_tasks()
    except Unavailable as exc:
        logger.warning("reconcile: %s; trying again at the next pass", exc.message)
        return Counter()
    stale_before = utcnow() - timedelta(seconds=float(current_app.config["JOB_STALE_S"]))
    pass_ = _Pass(waiting, stale_before)
    pass_.datasets()
    pass_.jobs()
    pass_.partitions()
    pass_.excel_files()
    pass_.drift_reports()
    pass_.shadow_partitions()
    pass_.webhook_deliveries()
    if pass_.sent:
        logger.warning("reconcile: sent again %s", dict(pass_.sent))
    return pass_.sent


class _Pass:
    def __init__(self, waiting: set[tuple[str, tuple]] | None, stale_before):
        self.waiting, self.stale_before = waiting, stale_before
        self.sent: Counter = Counter()

    def _lost(self, task: str, *args) -> bool:
        """No message for this task waits in the queue (unknown queue contents: assume it waits)."""
        return self.waiting is not None and (task, args) not in self.waiting

    def _send(self, task: str, *args, priority: int = 0) -> bool:
        try:
            enqueue(task, *args, priority=priority)
        except Unavailable as exc:
            logger.warning("reconcile: %s %s not sent: %s", task, args, exc.message)
            return False
        self.sent[task] += 1
        return True

    def datasets(self) -> None:
        """Queued datasets whose message was lost, and running ones whose worker died."""
        task = "hcl.datasets.profile"
        for row in self._unfinished(Dataset):
            if self._lost(task, row.id) and self._send(task, row.id) and row.status == "queued":
                _touch(Dataset, row.id)

    def jobs(self) -> None:
        """Queued jobs whose message was lost; running training jobs, bulk splits and merges
        whose worker died; bulk jobs whose merge was never sent."""
        for row in self._unfinished(Job, include_fresh=True):
            task, args = FIRST_STEP[row.kind], (row.id,)
            if row.kind == "bulk" and row.status == "running" and row.stage in ("scoring", "merging"):
                if row.stage == "scoring":
                    if merge_when_all_done(row.id):
                        self.sent["merge_triggered"] += 1
                    continue
                task = "hcl.bulk.merge"
            if not _older(row, self.stale_before) or not self._lost(task, *args):
                continue
            if self._send(task, *args) and row.status == "queued":
                _touch(Job, row.id)

    def partitions(self) -> None:
        """Pending partitions whose message was lost and running ones whose worker died, of
        jobs that are still scoring."""
        rows = db.session.execute(
            db.select(BulkPartition.job_id, BulkPartition.index)
            .join(Job, Job.id == BulkPartition.job_id)
            .where(
                Job.status == "running",
                Job.stage == "scoring",
                BulkPartition.status != "done",
                BulkPartition.heartbeat_at < self.stale_before,
            )
        ).all()
        for job_id, index in rows:
            if self._lost("hcl.bulk.partition", job_id, index) and self._send(
                "hcl.bulk.partition", job_id, index
            ):
                partitions.touch_pending(job_id, index)
                db.session.commit()

    def excel_files(self) -> None:
        """Succeeded bulk jobs whose Excel file is pending with no live writer and no message."""
        rows = db.session.scalars(
            db.select(Job).where(
                Job.kind == "bulk",
                Job.status == "succeeded",
                Job.result["xlsx"].as_string() == "pending",
                jobs.last_sign_of_life(Job) < self.stale_before,
            )
        ).all()
        for row in rows:
            if self._lost("hcl.bulk.xlsx", row.id) and self._send(
                "hcl.bulk.xlsx", row.id, priority=EXCEL_PRIORITY
            ):
                _touch(Job, row.id)

    def drift_reports(self) -> None:
        """Drift reports pending with no message waiting: their task sent again, their clock
        restarted (a drift task still running past ``JOB_STALE_S`` may run twice: harmless)."""
        for job_id in drift_reports.stale_pending(self.stale_before):
            if self._lost(DRIFT_TASK, job_id) and self._send(DRIFT_TASK, job_id, priority=DRIFT_PRIORITY):
                drift_reports.touch(job_id)
                db.session.commit()

    def shadow_partitions(self) -> None:
        """Partitions of succeeded jobs whose shadow scoring was lost (its message, or its worker:
        a running shadow task beats on the partition's heartbeat) before recording an outcome."""
        rows = db.session.execute(
            db.select(BulkPartition.job_id, BulkPartition.index)
            .join(Job, Job.id == BulkPartition.job_id)
            .where(
                Job.kind == "bulk",
                Job.status == "succeeded",
                Job.params["shadow_model_version_id"].as_string().is_not(None),
                BulkPartition.summary[("shadow", "status")].as_string().is_(None),
                BulkPartition.heartbeat_at < self.stale_before,
            )
        ).all()
        for job_id, index in rows:
            # No clock to restart: the message waits in the queue until a worker takes it, and
            # the task beats as soon as it starts.
            if self._lost(SHADOW_TASK, job_id, index):
                self._send(SHADOW_TASK, job_id, index, priority=SHADOW_PRIORITY)

    def webhook_deliveries(self) -> None:
        """Pending deliveries overdue with no message waiting: sent again, their clock restarted
        (a duplicate finds the delivery claimed or done and skips it)."""
        for delivery_id in webhooks.overdue(self.stale_before):
            if self._lost(DELIVER_TASK, delivery_id) and self._send(DELIVER_TASK, delivery_id):
                webhooks.reschedule(delivery_id, utcnow(), self.stale_before)
                db.session.commit()

    def _unfinished(self, model, include_fresh: bool = False) -> list:
        query = db.select(model).where(model.status.in_(jobs.ACTIVE))
        if not include_fresh:
            query = query.where(jobs.last_sign_of_life(model) < self.stale_before)
        return db.session.scalars(query).all()


def _older(row, stale_before) -> bool:
    last = row.heartbeat_at or row.updated_at
    if last.tzinfo is None:  # SQLite hands back naive datetimes (stored as UTC)
        last = last.replace(tzinfo=stale_before.tzinfo)
    return last < stale_before


def _touch(model, row_id: str) -> None:
    """Restart a queued row's clock after its task was sent again (never a running row's: the new
    delivery takes a running row over by its stale heartbeat)."""
    db.session.execute(
        db.update(model).where(model.id == row_id).values(heartbeat_at=utcnow()),
        execution_options={"synchronize_session": False},
    )
    db.session.commit()
