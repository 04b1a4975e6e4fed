"""Enqueueing by task name through the current Flask app's own Celery (its broker, not a global one)."""

from __future__ import annotations

from flask import current_app


def enqueue(task_name: str, *args) -> None:
    """Send a task; call only after the rows it reads are committed."""
    current_app.extensions["celery"].send_task(task_name, args=list(args))
