"""Request and response schemas of the schedules (/api/v1/settings/schedules)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from hcl_server.api.schemas import NO_NUL, UtcDateTime
from hcl_server.services.schedules import cron_problem, timezone_problem


def _refuse(problem):
    """A validator raising what ``problem(value)`` finds wrong with the value."""

    def check(value: str) -> None:
        found = problem(value)
        if found:
            raise ValidationError(found)

    return check


class ScheduleIn(Schema):
    cron = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=200), NO_NUL, _refuse(cron_problem)],
        metadata={
            "description": "5 fields: minute hour day-of-month month day-of-week, read in timezone",
            "example": "0 3 * * *",
        },
    )
    timezone = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=64), NO_NUL, _refuse(timezone_problem)],
        metadata={"description": "an IANA time zone", "example": "Europe/Berlin"},
    )


class SchedulesIn(Schema):
    """The schedules to set: a kind given replaces that schedule, null removes it, a kind left out
    is left as it is."""

    retrain = fields.Nested(
        ScheduleIn,
        allow_none=True,
        metadata={"description": "train on the latest dataset that was read"},
    )
    rescore = fields.Nested(
        ScheduleIn,
        allow_none=True,
        metadata={
            "description": "score the file of the latest succeeded bulk job again, with the production model"
        },
    )


class ScheduleOut(Schema):
    cron = fields.String()
    timezone = fields.String()
    next_run_at = UtcDateTime(
        allow_none=True, metadata={"description": "the next fire time (null: none in the next 50 years)"}
    )
    last_run_at = UtcDateTime(
        allow_none=True, metadata={"description": "the fire time of the last run (null: none yet)"}
    )
    last_job_id = fields.String(
        allow_none=True, metadata={"description": "the training or bulk job the last run started"}
    )
    last_error = fields.String(
        allow_none=True,
        metadata={"description": "why the last run started nothing (no dataset, no production model, ...)"},
    )


class SchedulesOut(Schema):
    retrain = fields.Nested(ScheduleOut, allow_none=True, metadata={"description": "null: not set"})
    rescore = fields.Nested(ScheduleOut, allow_none=True, metadata={"description": "null: not set"})
