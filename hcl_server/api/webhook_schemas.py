"""Request and response schemas of /api/v1/webhooks (they validate input and document it)."""

from __future__ import annotations

import json

from marshmallow import Schema, ValidationError, fields, validate

from hcl_server.api.schemas import UtcDateTime
from hcl_server.errors import Invalid
from hcl_server.services.webhooks import (
    EVENT_TYPES,
    MAX_URL_LENGTH,
    SECRET_LENGTH,
    check_secret,
    check_url,
    secret_prefix,
)


def checked_by(check):
    """A validator: the service's own check (``check_url``, ``check_secret``), its message on 422."""

    def run(value) -> None:
        try:
            check(value)
        except Invalid as exc:
            raise ValidationError(exc.message) from exc

    return run


class WebhookIn(Schema):
    url = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=MAX_URL_LENGTH), checked_by(check_url)],
        metadata={
            "description": "where events are POSTed: an http:// or https:// URL (redirects are not followed)",
            "example": "https://example.com/hooks/hcl",
        },
    )
    secret = fields.String(
        load_default=None,
        validate=[validate.Length(min=SECRET_LENGTH[0], max=SECRET_LENGTH[1]), checked_by(check_secret)],
        metadata={
            "description": f"the HMAC-SHA256 key events are signed with, {SECRET_LENGTH[0]} to "
            f"{SECRET_LENGTH[1]} printable characters; left out: one is generated. Returned by this "
            "request only"
        },
    )


class WebhookOut(Schema):
    id = fields.String()
    url = fields.String()
    secret_prefix = fields.Function(
        lambda hook: secret_prefix(hook.secret),
        metadata={
            "description": "the secret's first characters; the secret itself is shown only at creation"
        },
    )
    events = fields.Function(
        lambda hook: list(EVENT_TYPES), metadata={"description": "the event types sent to it"}
    )
    created_at = UtcDateTime()


class WebhookCreated(WebhookOut):
    secret = fields.String(metadata={"description": "the signing secret, shown this once"})


class WebhookList(Schema):
    webhooks = fields.List(fields.Nested(WebhookOut))


class DeliveryAttempt(Schema):
    attempt = fields.Integer(metadata={"description": "1 for the first try"})
    at = fields.String(metadata={"description": "when it ended (ISO 8601, UTC)"})
    status_code = fields.Integer(
        allow_none=True, metadata={"description": "the receiver's HTTP status, if any"}
    )
    error = fields.String(
        allow_none=True,
        metadata={"description": "why it failed (a non-2xx status, a timeout, ...); null: delivered"},
    )
    duration_ms = fields.Float()
    next_attempt_at = fields.String(
        allow_none=True, metadata={"description": "when the next attempt is due after this one failed"}
    )


class DeliveryOut(Schema):
    id = fields.String()
    event_id = fields.String(
        metadata={"description": "the event's id (the body's id): the same on every attempt"}
    )
    event_type = fields.String(metadata={"description": ", ".join(EVENT_TYPES)})
    job_id = fields.String(metadata={"description": "the dataset's or job's id"})
    status = fields.String(metadata={"description": "pending, delivered or failed (no attempt left)"})
    attempts = fields.Integer()
    next_attempt_at = UtcDateTime(allow_none=True)
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    delivered_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()
    history = fields.List(
        fields.Nested(DeliveryAttempt), metadata={"description": "every attempt, first first"}
    )
    payload = fields.Function(lambda d: json.loads(d.body), metadata={"description": "the JSON body sent"})


class DeliveryPage(Schema):
    deliveries = fields.List(fields.Nested(DeliveryOut))
    total = fields.Integer()
    limit = fields.Integer()
    offset = fields.Integer()
