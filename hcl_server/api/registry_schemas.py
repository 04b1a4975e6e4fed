"""Request and response schemas of the model aliases and their log (/api/v1/models/...)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from hcl_server.api.schemas import NO_NUL, PageArgs, UtcDateTime
from hcl_server.services.registry import ALIAS_NAME, ALIAS_RULE

REASON = fields.String(
    load_default=None,
    validate=[validate.Length(max=1000), NO_NUL],
    metadata={"description": "why, kept in the alias log"},
)
ALIAS = validate.Regexp(ALIAS_NAME.pattern + "$", error=ALIAS_RULE)


class ReasonIn(Schema):
    reason = REASON


class AliasIn(Schema):
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2**31 - 1))
    reason = REASON


class AliasOut(Schema):
    alias = fields.String()
    version = fields.Integer()
    updated_at = UtcDateTime()


class AliasList(Schema):
    aliases = fields.List(fields.Nested(AliasOut))


class HistoryArgs(PageArgs):
    alias = fields.String(
        validate=ALIAS, load_default=None, metadata={"description": "only this alias's changes"}
    )


class AliasEventOut(Schema):
    id = fields.Integer()
    alias = fields.String()
    from_version = fields.Integer(allow_none=True, metadata={"description": "null: the alias was new"})
    to_version = fields.Integer(allow_none=True, metadata={"description": "null: the alias was removed"})
    at = UtcDateTime()
    actor = fields.String(
        metadata={"description": 'the API key id that made the change, "rule:<name>" for an automatic one'}
    )
    reason = fields.String(allow_none=True)


class History(Schema):
    events = fields.List(fields.Nested(AliasEventOut))
    total = fields.Integer(metadata={"description": "the log's rows in all (for the alias, if one is given)"})
    limit = fields.Integer()
    offset = fields.Integer()
