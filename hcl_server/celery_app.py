"""Celery wired to the Flask app: tasks run inside an app context; enqueue after commit.

The task modules are named in ``include`` and imported by the worker (and by whoever imports them),
not here: they call services, and services call ``enqueue``, so importing them here would close a
circle.
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

from celery import Celery, Task
from celery.signals import worker_init, worker_process_init
from flask import Flask, current_app
from kombu.exceptions import OperationalError as KombuOperationalError

from hcl_server.errors import Unavailable
from hcl_server.extensions import db
from ml_pipeline.threads import cores_available, size_native_threads

TASK_MODULES = [
    "hcl_server.tasks.bulk",
    "hcl_server.tasks.datasets",
    "hcl_server.tasks.outcomes",
    "hcl_server.tasks.reconcile",
    "hcl_server.tasks.schedules",
    "hcl_server.tasks.shadow",
    "hcl_server.tasks.training",
    "hcl_server.tasks.webhooks",
]
QUEUE = "celery"  # Celery's default queue: every task goes there
MAX_PRIORITY = 9
# Redis keeps one list per priority ("celery", "celery:1", ... "celery:9"); workers pop them in
# that order, so a lower number is taken first (kombu's transport options, named explicitly so
# the reconciler can read the waiting messages).
PRIORITY_SEP = ":"
logger = logging.getLogger(__name__)


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
            "priority_steps": list(range(MAX_PRIORITY + 1)),
            "sep": PRIORITY_SEP,
            "queue_order_strategy": "priority",
        }
    celery.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=3 * 3600,
        task_soft_time_limit=3 * 3600 - 60,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        task_default_priority=0,
        # The reconciler runs every RECONCILE_EVERY_S (Celery beat; `make run` embeds beat in its
        # worker); a reconcile message not taken within that time is dropped, the next one follows.
        beat_schedule={
            "reconcile": {
                "task": "hcl.reconcile",
                "schedule": float(app.config["RECONCILE_EVERY_S"]),
                "options": {"expires": float(app.config["RECONCILE_EVERY_S"]), "priority": 0},
            },
            # The organizations' schedules (services/schedules.py), looked at every SCHEDULES_EVERY_S;
            # a message not taken within that time is dropped: the next pass still finds the run due.
            "schedules": {
                "task": "hcl.schedules.run_due",
                "schedule": float(app.config["SCHEDULES_EVERY_S"]),
                "options": {"expires": float(app.config["SCHEDULES_EVERY_S"]), "priority": 0},
            },
        },
        beat_schedule_filename=str(Path(app.config["STORAGE_DIR"]) / "celerybeat-schedule"),
    )
    celery.set_default()
    app.extensions["celery"] = celery

    sized: dict[str, int] = {}

    @worker_init.connect(weak=False)
    def _size_threads(sender=None, **_):
        # The worker's processes share the cores: each child (or the solo pool's one process) gets
        # its share of native threads (ml_pipeline/threads.py). Set here in the parent too, before
        # it forks, and again in each child below, where the limit must hold for the task thread.
        sized["processes"] = pool_processes(sender)
        threads = size_native_threads(sized["processes"])
        logger.info(
            "%s pool process(es), %s native thread(s) each", sized["processes"], threads or "library default"
        )

    @worker_process_init.connect(weak=False)
    def _fresh_connections(**_):
        # A forked worker must not share the parent's database connections.
        with app.app_context():
            from hcl_server.extensions import db

            db.engine.dispose()
        size_native_threads(sized.get("processes", 1))

    return celery


def pool_processes(worker) -> int:
    """How many processes of a starting Celery worker run tasks at once: 1 for the solo pool,
    else its concurrency (the machine's cores when Celery has not resolved it to a number yet)."""
    if "solo" in str(getattr(worker, "pool_cls", "")).lower():
        return 1
    concurrency = getattr(worker, "concurrency", None)
    return concurrency if isinstance(concurrency, int) and concurrency > 0 else cores_available()


_PUBLISH_RETRY = {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.4, "interval_max": 1.0}


def enqueue(task_name: str, *args, priority: int = 0, countdown: float | None = None) -> None:
    """Send a task by name through the current app's Celery (its broker, not a global one).

    Call only after the rows the task reads are committed (microblog's bug #220 is the opposite).
    ``priority`` 0 (first) to 9 (last): workers take the lowest waiting number first on Redis
    (the embedded broker keeps arrival order). ``countdown``: run it no sooner than that many
    seconds from now (a worker takes the message at once and holds it until then). Publishing is
    retried briefly (about 2 s in all); a broker that stays unreachable raises Unavailable.
    """
    try:
        current_app.extensions["celery"].send_task(
            task_name,
            args=list(args),
            retry=True,
            retry_policy=_PUBLISH_RETRY,
            priority=max(0, min(MAX_PRIORITY, int(priority))),
            countdown=countdown,
        )
    except (KombuOperationalError, OSError) as exc:
        raise Unavailable(
            f"the task queue is not reachable ({str(exc).splitlines()[0]}); try again shortly"
        ) from exc


def enqueue_later(task_name: str, *args, priority: int = 0, countdown: float | None = None) -> bool:
    """Enqueue a task whose row is already committed in a state the reconciler recognises (a
    pending partition, a job waiting for its merge): when the broker is down, log it and return
    False; the reconciler sends the task once the broker is back (services/reconcile.py)."""
    try:
        enqueue(task_name, *args, priority=priority, countdown=countdown)
        return True
    except Unavailable as exc:
        logger.warning("%s %s not sent (%s); the reconciler will send it", task_name, args, exc.message)
        return False


def enqueue_or_fail(row, task_name: str, *args, priority: int = 0, on_failed=None) -> None:
    """Enqueue the task of a just-committed ``row`` (a dataset or job with status and error); when
    the broker cannot take it, the row is failed with the reason (so nothing stays queued forever),
    ``on_failed(row)`` is called before that commits (the webhook event), and Unavailable is raised
    for the client to send the upload or request again."""
    try:
        enqueue(task_name, *args, priority=priority)
    except Unavailable as exc:
        row.status, row.error = "failed", f"{exc.message} when it was submitted; submit it again"
        if on_failed is not None:
            on_failed(row)
        db.session.commit()
        raise


def waiting_tasks() -> set[tuple[str, tuple]] | None:
    """The tasks waiting in the broker's queue, as (task name, args), not yet taken by a worker;
    None when the broker is not one whose queue can be read (Redis and the embedded broker can).

    The reconciler re-sends the task of a queued row only when it is not waiting here: a message
    lost with a Redis restart or a killed worker of the embedded broker. Raises Unavailable when
    the broker does not answer.
    """
    celery = current_app.extensions["celery"]
    try:
        with celery.connection_for_read() as conn:
            transport = conn.transport_cls
            if transport in ("redis", "rediss"):
                client = conn.default_channel.client
                keys = [QUEUE] + [f"{QUEUE}{PRIORITY_SEP}{p}" for p in range(1, MAX_PRIORITY + 1)]
                payloads = [item for key in keys for item in client.lrange(key, 0, -1)]
            elif transport == "filesystem":
                folder = Path(celery.conf.broker_transport_options["data_folder_in"])
                payloads = [_read(path) for path in folder.glob(f"*.{QUEUE}.msg")]
            else:
                return None
    except (KombuOperationalError, OSError) as exc:
        raise Unavailable(f"the task queue is not reachable ({str(exc).splitlines()[0]})") from exc
    return {task for task in map(_task_of, payloads) if task is not None}


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:  # taken by a worker meanwhile
        return None


def _task_of(payload: bytes | None) -> tuple[str, tuple] | None:
    """(task name, args) of one kombu message (JSON with a base64 body, Celery's protocol 2)."""
    if payload is None:
        return None
    try:
        message = json.loads(payload)
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
        return message["headers"]["task"], tuple(args)
    except (ValueError, KeyError, IndexError, TypeError):
        return None
