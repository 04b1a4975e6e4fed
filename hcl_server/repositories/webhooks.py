"""Webhooks and their deliveries: lookups scoped by organization, the delivery claim, due rows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update

from hcl_server.db import Webhook, WebhookDelivery
from hcl_server.extensions import db
from hcl_server.repositories import count, get_scoped, scoped


def list_for_org(org_id: str) -> list[Webhook]:
    """The organization's webhooks, oldest first."""
    return db.session.scalars(scoped(Webhook, org_id).order_by(Webhook.created_at, Webhook.id)).all()


def count_for_org(org_id: str) -> int:
    """How many webhooks the organization has."""
    return count(scoped(Webhook, org_id))


def get_for_org(org_id: str, webhook_id: str) -> Webhook:
    """The organization's webhook; NotFound otherwise (another organization's id included)."""
    return get_scoped(Webhook, org_id, webhook_id, "webhook")


def delete_with_deliveries(webhook_id: str) -> None:
    """Delete a webhook and every delivery of it (a task that then looks for one finds none)."""
    db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id))
    db.session.execute(delete(Webhook).where(Webhook.id == webhook_id))


def deliveries_page(webhook_id: str, limit: int, offset: int) -> tuple[list[WebhookDelivery], int]:
    """A webhook's deliveries, newest first: (one page, total)."""
    query = db.select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    rows = db.session.scalars(
        query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id).limit(limit).offset(offset)
    )
    return rows.all(), count(query)


def get_delivery(delivery_id: str) -> WebhookDelivery | None:
    """A delivery by id, for the worker."""
    return db.session.get(WebhookDelivery, delivery_id)


def get_webhook(webhook_id: str) -> Webhook | None:
    """A webhook by id, for the worker."""
    return db.session.get(Webhook, webhook_id)


def claim_delivery(delivery_id: str, due_by: datetime, lease_until: datetime) -> int | None:
    """A pending delivery due by ``due_by`` -> one more attempt, its next attempt moved to
    ``lease_until`` (another message for it meanwhile finds it not due): this attempt's number,
    or None when it is delivered, failed, deleted, not due yet or held by another attempt."""
    result = db.session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= due_by,
        )
        .values(attempts=WebhookDelivery.attempts + 1, next_attempt_at=lease_until)
        .returning(WebhookDelivery.attempts),
        execution_options={"synchronize_session": False},
    )
    return result.scalar_one_or_none()


def overdue(before: datetime) -> list[str]:
    """Ids of pending deliveries whose next attempt was due before ``before`` (their task was
    lost, or the worker sending them died)."""
    return db.session.scalars(
        db.select(WebhookDelivery.id).where(
            WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at < before
        )
    ).all()


def reschedule(delivery_id: str, at: datetime, overdue_before: datetime) -> None:
    """A pending delivery still due before ``overdue_before`` -> due ``at`` (the reconciler, after
    sending its task again; a delivery the new task has claimed meanwhile keeps its lease)."""
    db.session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at < overdue_before,
        )
        .values(next_attempt_at=at),
        execution_options={"synchronize_session": False},
    )
