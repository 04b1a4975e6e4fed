"""The schedules' pass, run by Celery beat every SCHEDULES_EVERY_S."""

from __future__ import annotations

from celery import shared_task

from hcl_server.services import schedules


@shared_task(name="hcl.schedules.run_due", ignore_result=True)
def run_due_schedules() -> None:
    """Start the organizations' scheduled retrains and re-scores that are due (services/schedules.py)."""
    schedules.run_due()
