"""Webhooks: an organization's URLs, told of every job that ends by a signed JSON event.

How an event travels (README, "Webhooks"):

- ``job_ended(row, status)`` is called by the code that ends a dataset or job, *before* it
  commits: it adds one pending delivery per webhook of the organization to the same transaction,
  so the job's end and its events are committed together or not at all. Once the session
  commits, each recorded delivery's task is sent (``hcl.webhooks.deliver``); a rollback drops them.
- The task claims the delivery (a conditional UPDATE counting the attempt and leasing it for the
  timeout), POSTs the body with its signature, and records the attempt in the row's history:
  a 2xx delivers it; anything else schedules the next attempt after the configured backoff
  (``WEBHOOK_RETRY_DELAYS_S``) and sends the task again with that countdown (a wait longer than
  half the broker's visibility timeout is left to the reconciler), until ``WEBHOOK_MAX_ATTEMPTS``
  fail it.
- The delivery row is the truth. A task lost (a broker down, a worker killed while it held the
  message or sent the request) leaves the row pending with a due time in the past; the reconciler
  sends its task again (services/reconcile.py).

A receiver that fails never touches the job: deliveries are rows and tasks of their own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from datetime import datetime, timedelta
from http.client import HTTPConnection, HTTPException, HTTPSConnection
from urllib.parse import quote, urlsplit

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm.exc import StaleDataError

from hcl_server.celery_app import enqueue_later
from hcl_server.db import Dataset, Job, Webhook, WebhookDelivery
from hcl_server.db.models import new_id, utcnow
from hcl_server.errors import Conflict, Invalid
from hcl_server.extensions import db
from hcl_server.repositories import webhooks

logger = logging.getLogger(__name__)

DELIVER_TASK = "hcl.webhooks.deliver"
SIGNATURE_HEADER = "X-HCL-Signature"
MAX_WEBHOOKS_PER_ORG = 10
MAX_URL_LENGTH = 2000
SECRET_LENGTH = (16, 200)
# An attempt holds its delivery for the timeout and this much more; a worker that dies meanwhile
# leaves it due again.
LEASE_MARGIN_S = 30.0
# A delivery counts as due this much before its time (clocks of two machines differ a little).
CLOCK_SLACK_S = 1.0
# The event type's first part and the path clients poll, by kind of work.
OBJECTS = {
    "dataset": ("dataset", "/api/v1/datasets/"),
    "training": ("training_job", "/api/v1/training-jobs/"),
    "bulk": ("bulk_job", "/api/v1/bulk-jobs/"),
}
EVENT_TYPES = tuple(
    f"{name}.{status}"
    for kind, (name, _) in OBJECTS.items()
    for status in (("succeeded", "failed") if kind == "dataset" else ("succeeded", "failed", "cancelled"))
)
# Event ids are derived from the job and the event type, so the same event always has the same id
# (a receiver can use it to drop a repeat).
_EVENT_NAMESPACE = uuid.UUID("5f1c7a52-3d0e-4bb8-9a55-2b6f3f0f6c11")
_TO_SEND = "webhook_deliveries_to_send"
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"


# --- the API's side ---------------------------------------------------------------------------


def check_url(url: str) -> str:
    """The URL as it is stored; raises Invalid unless it is an absolute http or https URL with a
    host, of at most MAX_URL_LENGTH characters, without spaces or control characters."""
    if len(url) > MAX_URL_LENGTH:
        raise Invalid(f"the url is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise Invalid("the url must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as exc:
        raise Invalid(f"the url is not valid: {exc}") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise Invalid("the url must start with http:// or https://")
    if not parts.hostname:
        raise Invalid("the url must name a host, e.g. https://example.com/hooks/hcl")
    if parts.username is not None or parts.password is not None:
        raise Invalid(
            "the url must not hold a user name or password (it is shown back by GET); "
            "the signature proves the events are ours"
        )
    try:
        parts.hostname.encode("idna")
    except UnicodeError as exc:
        raise Invalid(f"the url's host is not a valid host name: {exc}") from exc
    return url


def check_secret(secret: str) -> str:
    """The secret as it is stored; raises Invalid unless it has SECRET_LENGTH printable characters."""
    low, high = SECRET_LENGTH
    if not low <= len(secret) <= high:
        raise Invalid(f"the secret must have {low} to {high} characters")
    if not secret.isprintable():
        raise Invalid("the secret must be printable text")
    return secret


def secret_prefix(secret: str) -> str:
    """What GET shows of a secret: its first characters (at most 8, a quarter of it), then "…"."""
    return secret[: min(8, len(secret) // 4)] + "…"


def create_webhook(org_id: str, url: str, secret: str | None) -> tuple[Webhook, str]:
    """Register a URL for the organization's events; commits. Returns the webhook and its secret
    (generated when none is given), which is shown this once.

    Raises Invalid for a URL or secret that does not pass ``check_url``/``check_secret``, Conflict
    at MAX_WEBHOOKS_PER_ORG.
    """
    url = check_url(url)
    secret = check_secret(secret) if secret else f"whsec_{secrets.token_urlsafe(32)}"
    if webhooks.count_for_org(org_id) >= MAX_WEBHOOKS_PER_ORG:
        raise Conflict(
            f"this organization already has {MAX_WEBHOOKS_PER_ORG} webhooks; delete one to add another"
        )
    hook = Webhook(organization_id=org_id, url=url, secret=secret)
    db.session.add(hook)
    db.session.commit()
    return hook, secret


def list_webhooks(org_id: str) -> list[Webhook]:
    """The organization's webhooks, oldest first."""
    return webhooks.list_for_org(org_id)


def get_webhook(org_id: str, webhook_id: str) -> Webhook:
    """The organization's webhook; NotFound otherwise."""
    return webhooks.get_for_org(org_id, webhook_id)


def delete_webhook(org_id: str, webhook_id: str) -> None:
    """Delete the organization's webhook and its deliveries (none is attempted after); commits.
    Raises NotFound for another organization's webhook."""
    webhooks.get_for_org(org_id, webhook_id)
    webhooks.delete_with_deliveries(webhook_id)
    db.session.commit()


def list_deliveries(
    org_id: str, webhook_id: str, limit: int, offset: int
) -> tuple[list[WebhookDelivery], int]:
    """A page of the organization's webhook's deliveries, newest first, and their total."""
    webhooks.get_for_org(org_id, webhook_id)
    return webhooks.deliveries_page(webhook_id, limit, offset)


# --- a job ends -------------------------------------------------------------------------------


def event_type(row: Job | Dataset, status: str) -> str:
    """The event type of ``row`` ending with ``status``, e.g. ``bulk_job.succeeded``."""
    kind = "dataset" if isinstance(row, Dataset) else row.kind
    return f"{OBJECTS[kind][0]}.{status}"


def job_ended(row: Job | Dataset, status: str, error: str | None = None) -> None:
    """Record the event of a dataset or job that ends with ``status`` (succeeded, failed,
    cancelled): one pending delivery per webhook of its organization, added to the session of the
    change that ends it. Call it before that change commits; each delivery's task is sent once it
    has (a rollback drops them). Never raises for the event itself: a job's end does not depend on
    its webhooks."""
    try:
        kind = "dataset" if isinstance(row, Dataset) else row.kind
        name, path = OBJECTS[kind]
        type_ = f"{name}.{status}"
        hooks = webhooks.list_for_org(row.organization_id)
        if not hooks:
            return
        now = utcnow()
        event_id = str(uuid.uuid5(_EVENT_NAMESPACE, f"{row.id}:{type_}"))
        body = json.dumps(
            {
                "id": event_id,
                "type": type_,
                "created_at": _iso(now),
                "organization_id": row.organization_id,
                "data": {
                    "id": row.id,
                    "object": name,
                    "status": status,
                    "error": error,
                    "link": path + row.id,
                },
            },
            separators=(",", ":"),
        )
        deliveries = [
            WebhookDelivery(
                id=new_id(),
                webhook_id=hook.id,
                organization_id=row.organization_id,
                event_id=event_id,
                event_type=type_,
                job_id=row.id,
                body=body,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                history=[],
            )
            for hook in hooks
        ]
    except Exception:
        logger.exception(
            "webhooks: the event of %s %s (%s) was not recorded", type(row).__name__, row.id, status
        )
        return
    db.session.add_all(deliveries)
    db.session.info.setdefault(_TO_SEND, []).extend(d.id for d in deliveries)


def job_failed(row: Job | Dataset) -> None:
    """``job_ended`` for a row just marked failed, with its error (celery_app.enqueue_or_fail's
    ``on_failed``: a broker that could not take the row's task)."""
    job_ended(row, "failed", row.error)


@event.listens_for(db.session, "after_commit")
def _send_recorded(session) -> None:
    """After the commit that recorded deliveries: send each one's task (a broker that is down
    leaves them to the reconciler)."""
    for delivery_id in session.info.pop(_TO_SEND, []):
        try:
            enqueue_later(DELIVER_TASK, delivery_id)
        except Exception:  # nothing may break the commit that ended a job
            logger.exception("webhooks: delivery %s not sent; the reconciler will send it", delivery_id)


@event.listens_for(db.session, "after_soft_rollback")
def _drop_recorded(session, previous_transaction) -> None:
    session.info.pop(_TO_SEND, None)


# --- the worker's side ------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256, keyed with the secret, of ``"<timestamp>.<body>"``."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The X-HCL-Signature value: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">``."""
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def retry_delay(attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1, 2, ...): the attempt-th of
    WEBHOOK_RETRY_DELAYS_S, its last repeating."""
    delays = current_app.config["WEBHOOK_RETRY_DELAYS_S"]
    if isinstance(delays, str):  # a test app may give the setting as the environment does
        delays = tuple(float(p) for p in delays.split(",") if p.strip())
    delays = delays or (60.0,)
    return float(delays[min(attempt, len(delays)) - 1])


def deliver(delivery_id: str) -> None:
    """One attempt at a delivery that is due (the task ``hcl.webhooks.deliver``); commits.

    A delivery that is delivered, failed, deleted, not due yet or held by another attempt is left
    alone (a repeated message does no harm).
    """
    config = current_app.config
    timeout = float(config["WEBHOOK_TIMEOUT_S"])
    now = utcnow()
    attempt = webhooks.claim_delivery(
        delivery_id,
        due_by=now + timedelta(seconds=CLOCK_SLACK_S),
        lease_until=now + timedelta(seconds=timeout + LEASE_MARGIN_S),
    )
    db.session.commit()
    if attempt is None:
        logger.info("webhooks: delivery %s is not due or no longer pending; skipped", delivery_id)
        return
    delivery = webhooks.get_delivery(delivery_id)
    hook = webhooks.get_webhook(delivery.webhook_id) if delivery else None
    if delivery is None or hook is None:  # the webhook was deleted meanwhile
        return
    if attempt > int(config["WEBHOOK_MAX_ATTEMPTS"]):  # claimed by workers that died sending it
        outcome = {"status_code": None, "error": "the worker sending it stopped", "duration_ms": 0.0}
    else:
        outcome = post(hook.url, hook.secret, delivery, timeout)
    _record(delivery_id, attempt, outcome)


def post(url: str, secret: str, delivery: WebhookDelivery, timeout: float) -> dict:
    """POST a delivery's body, signed now, to ``url``: {status_code, error, duration_ms} (error
    None when the receiver answered 2xx). ``timeout`` bounds the connection and each read; a
    redirect is not followed (it counts as a failed attempt); no proxy is used."""
    body = delivery.body.encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "hcl_server-webhooks/1",
        "X-HCL-Event": delivery.event_type,
        "X-HCL-Event-Id": delivery.event_id,
        "X-HCL-Delivery": delivery.id,
        SIGNATURE_HEADER: signature_header(secret, timestamp, body),
    }
    parts = urlsplit(url)
    connection_class = HTTPSConnection if parts.scheme.lower() == "https" else HTTPConnection
    # Characters a request line cannot carry (non-ASCII) are sent percent-encoded, as UTF-8.
    target = quote((parts.path or "/") + (f"?{parts.query}" if parts.query else ""), safe=_URL_SAFE)
    started = time.perf_counter()
    status, error, connection = None, None, None
    try:
        default_port = 443 if connection_class is HTTPSConnection else 80
        connection = connection_class(parts.hostname, parts.port or default_port, timeout=timeout)
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        status = response.status
        response.read(1024)
        if not 200 <= status < 300:
            location = response.getheader("Location") if 300 <= status < 400 else None
            error = f"HTTP {status}" + (f": redirect to {location} not followed" if location else "")
    except TimeoutError:
        error = f"no answer within {timeout:g} s"
    except ConnectionRefusedError:
        error = "could not connect: connection refused"
    except (OSError, HTTPException) as exc:  # no such host, a reset, a TLS failure, a bad answer
        error = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # whatever else the URL or the answer does: an attempt that failed
        logger.warning("webhooks: delivery %s to %s: %r", delivery.id, url, exc)
        error = f"{type(exc).__name__}: {exc}"
    finally:
        if connection is not None:
            connection.close()
    return {
        "status_code": status,
        "error": error[:500] if error else None,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
    }


def _record(delivery_id: str, attempt: int, outcome: dict) -> None:
    """Write attempt ``attempt``'s outcome on its delivery (unless deleted or taken over meanwhile)
    and schedule the next attempt, or end it delivered or failed; commits, then sends the retry."""
    delivery = webhooks.get_delivery(delivery_id)
    if delivery is None or delivery.status != "pending" or delivery.attempts != attempt:
        db.session.rollback()
        return
    now = utcnow()
    entry = {"attempt": attempt, "at": _iso(now), **outcome, "next_attempt_at": None}
    delay = None
    if outcome["error"] is None:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", now, None
    elif attempt >= int(current_app.config["WEBHOOK_MAX_ATTEMPTS"]):
        delivery.status, delivery.next_attempt_at = "failed", None
    else:
        delay = retry_delay(attempt)
        delivery.next_attempt_at = now + timedelta(seconds=delay)
        entry["next_attempt_at"] = _iso(delivery.next_attempt_at)
    delivery.last_status_code, delivery.last_error = outcome["status_code"], outcome["error"]
    delivery.history = [*(delivery.history or []), entry]
    type_ = delivery.event_type
    try:
        db.session.commit()
    except StaleDataError:  # the webhook, and so this delivery, was deleted meanwhile
        db.session.rollback()
        return
    logger.info(
        "webhooks: delivery %s (%s) attempt %s: %s",
        delivery_id,
        type_,
        attempt,
        outcome["error"] or f"HTTP {outcome['status_code']}",
    )
    if delay is not None and delay <= _longest_countdown():
        enqueue_later(DELIVER_TASK, delivery_id, countdown=delay)
    # A longer wait is left to the reconciler, which sends the task once it is overdue: a message
    # held by a worker for hours would come back from Redis after its visibility timeout anyway.


def _longest_countdown() -> float:
    """The longest retry wait sent as a task with a countdown: half of Redis's visibility timeout."""
    return float(current_app.config["CELERY_VISIBILITY_TIMEOUT"]) / 2


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
