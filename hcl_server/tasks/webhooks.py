"""Delivering a webhook event: one attempt per task; the service schedules the next."""

from __future__ import annotations

from celery import shared_task

from hcl_server.services import webhooks


@shared_task(name="hcl.webhooks.deliver", ignore_result=True)
def deliver_webhook(delivery_id: str) -> None:
    """POST a due delivery's signed event and record the attempt (services/webhooks.py)."""
    webhooks.deliver(delivery_id)
