"""An upload's reading options: the API's form fields to ml_pipeline's ReadOptions and back, and
ml_pipeline's messages worded for an API caller (its form fields where the CLI names a flag)."""

from __future__ import annotations

from hcl_server.errors import Unprocessable
from ml_pipeline.data.options import OPTION_NAMES, ReadOptions, api_wording
from ml_pipeline.errors import EventLogError

DATE_FORMAT_LENGTH = 100  # the longest date format an upload may give

FIELD_OF = {option: field for option, (_, field) in OPTION_NAMES.items()}  # max_bad_share -> max_bad_rows
OPTION_OF = {field: option for option, field in FIELD_OF.items()}


def options_from_form(form: dict) -> ReadOptions:
    """The ReadOptions of an upload's form fields; a field not sent is decided from the file.

    Raises Unprocessable, worded with the form's field names, for a value ReadOptions refuses
    (the request schema checks the same values first, so this is a second line).
    """
    given = {OPTION_OF[k]: v for k, v in form.items() if k in OPTION_OF and v is not None}
    try:
        return ReadOptions(**given)
    except EventLogError as exc:
        raise Unprocessable(api_wording(str(exc))) from exc


def form_fields(stored: dict | None) -> dict:
    """Stored options (``ReadOptions.to_dict``) by the form fields a client sends them as."""
    return {FIELD_OF[k]: v for k, v in (stored or {}).items()}


def api_messages(messages: list[str]) -> list[str]:
    """Warnings from ml_pipeline, each worded with the API's field names (see ``api_wording``)."""
    return [api_wording(m) for m in messages]


def api_worded(value):
    """Every text in a JSON-like value (dicts, lists, strings) worded with the API's field names."""
    if isinstance(value, str):
        return api_wording(value)
    if isinstance(value, list):
        return [api_worded(v) for v in value]
    if isinstance(value, dict):
        return {k: api_worded(v) for k, v in value.items()}
    return value
