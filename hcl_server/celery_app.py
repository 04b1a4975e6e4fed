"""Celery wired to the Flask app: tasks run inside an app context."""

from __future__ import annotations

from pathlib import Path

from celery import Celery, Task
from flask import Flask


def init_celery(app: Flask) -> Celery:
    """Create the Celery app from the Flask config and store it in ``app.extensions['celery']``."""

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    broker = app.config["REDIS_URL"] or "filesystem://"
    celery = Celery(app.name, task_cls=FlaskTask, broker=broker)
    if broker == "filesystem://":
        # The embedded broker: messages are files in a folder, so no server is needed.
        folder = Path(app.config["STORAGE_DIR"]) / "broker"
        folder.mkdir(parents=True, exist_ok=True)
        celery.conf.broker_transport_options = {
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
        }
    celery.conf.update(task_acks_late=True, worker_prefetch_multiplier=1)
    celery.set_default()
    app.extensions["celery"] = celery
    return celery
