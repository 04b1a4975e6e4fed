"""Celery wired to the Flask app: tasks run inside an app context; enqueue after commit.

The task modules are named in ``include`` and imported by the worker (and by whoever imports them),
not here: they call services, and services call ``enqueue``, so importing them here would close a
circle.
"""

from __future__ import annotations

from pathlib import Path

from celery import Celery, Task
from celery.signals import worker_process_init
from flask import Flask, current_app
from kombu.exceptions import OperationalError as KombuOperationalError

from hcl_server.errors import Unavailable
from hcl_server.extensions import db

TASK_MODULES = ["hcl_server.tasks.bulk", "hcl_server.tasks.datasets", "hcl_server.tasks.training"]


def init_celery(app: Flask) -> Celery:
    """Create the Celery app from the Flask config and store it in ``app.extensions['celery']``."""

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    broker = app.config["REDIS_URL"] or "filesystem://"
    celery = Celery(app.name, task_cls=FlaskTask, broker=broker, include=TASK_MODULES)
    if broker == "filesystem://":
        # The embedded broker: messages are files in a folder, so no server is needed.
        folder = Path(app.config["STORAGE_DIR"]) / "broker"
        for sub in ("queue", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        celery.conf.broker_transport_options = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
        }
    else:
        # The visibility timeout is longer than the longest task, so Redis does not redeliver work
        # that is still running. A task of a killed worker comes back once it has passed: every
        # worker scans for such tasks every 10 s (kombu 5.7 would otherwise scan only on every
        # 10th tick, i.e. every 100 s).
        visibility = int(app.config["CELERY_VISIBILITY_TIMEOUT"])
        celery.conf.broker_transport_options = {
            "visibility_timeout": visibility,
            "unacked_restore_interval": max(1, min(10, visibility)),
            "unacked_restore_throttle": 1,
        }
    celery.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=3 * 3600,
        task_soft_time_limit=3 * 3600 - 60,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
    )
    celery.set_default()
    app.extensions["celery"] = celery

    @worker_process_init.connect(weak=False)
    def _fresh_connections(**_):
        # A forked worker must not share the parent's database connections.
        with app.app_context():
            from hcl_server.extensions import db

            db.engine.dispose()

    return celery


_PUBLISH_RETRY = {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.4, "interval_max": 1.0}


def enqueue(task_name: str, *args) -> None:
    """Send a task by name through the current app's Celery (its broker, not a global one).

    Call only after the rows the task reads are committed (microblog's bug #220 is the opposite).
    Publishing is retried briefly (about 2 s in all); a broker that stays unreachable raises
    Unavailable.
    """
    try:
        current_app.extensions["celery"].send_task(
            task_name, args=list(args), retry=True, retry_policy=_PUBLISH_RETRY
        )
    except (KombuOperationalError, OSError) as exc:
        raise Unavailable(
            f"the task queue is not reachable ({str(exc).splitlines()[0]}); try again shortly"
        ) from exc


def enqueue_or_fail(row, task_name: str, *args) -> None:
    """Enqueue the task of a just-committed ``row`` (a dataset or job with status and error); when
    the broker cannot take it, the row is failed with the reason (so nothing stays queued forever)
    and Unavailable is raised for the client to send the upload or request again."""
    try:
        enqueue(task_name, *args)
    except Unavailable as exc:
        row.status, row.error = "failed", f"{exc.message} when it was submitted; submit it again"
        db.session.commit()
        raise
