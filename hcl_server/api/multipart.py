"""The API's request parser and Blueprint.

Uploads: a file and form fields read by one schema and documented as one multipart/form-data
request body (flask-smorest documents a single body location per view, so a schema for the
files and another for the form left the file out of the OpenAPI document). JSON bodies: one
nested too deeply to decode is refused as invalid JSON (400), like any other that does not parse.
"""

from __future__ import annotations

import http
import json

import flask_smorest
from flask import current_app
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict

from hcl_server.api.errors import ApiError


class MultipartParser(FlaskParser):
    """webargs' Flask parser with one more location, ``multipart``: the files and form fields of
    the request together (fields it does not know are refused, as for ``form``)."""

    __location_map__ = dict(multipart="load_multipart", **FlaskParser.__location_map__)

    def load_multipart(self, req, schema):
        """The request's files and form fields as one MultiDictProxy."""
        return self._makeproxy(CombinedMultiDict([req.files, req.form]), schema)

    def _raw_load_json(self, req):
        """The JSON body, as webargs reads it; a body nested deeper than the interpreter's
        recursion limit raises JSONDecodeError (webargs answers 400 "Invalid JSON body.").

        Raises ApiError 413 for a body over ``MAX_JSON_MB``: decoding and validating a 133 MB
        batch held a web worker for a minute; a file that size belongs in a bulk job.
        """
        limit_mb = current_app.config["MAX_JSON_MB"]
        if req.content_length is not None and req.content_length > limit_mb * 1024 * 1024:
            raise ApiError(
                413,
                f"the JSON body is {req.content_length / 2**20:.0f} MB, over the limit of {limit_mb} MB; "
                "send fewer customers per request, or upload them as a file with POST /api/v1/bulk-jobs",
            )
        try:
            return super()._raw_load_json(req)
        except RecursionError:
            # json.loads recurses once per nesting level: 100,000 "[" in a 200 kB body exhausted
            # the stack, and RecursionError is not a JSONDecodeError, so it escaped as a 500.
            raise json.JSONDecodeError("nested too deeply", "[" * 2, 0) from None


class Blueprint(flask_smorest.Blueprint):
    """A flask-smorest Blueprint parsing with MultipartParser: its views can take
    ``@blp.arguments(..., location="multipart")``. Every /api/v1 blueprint is one.

    Every operation of the blueprint documents the error statuses in ``errors`` (by default 401,
    for the API key every /api/v1 request needs, 429, for the key's rate limit (RATE_LIMIT), and
    503, for a database that does not answer),
    and a view adds its own with ``@blp.errors(404, 409)``; each is documented with the API's
    error schema (``api.document.Api``). ``@blp.arguments`` adds 422 itself.
    """

    ARGUMENTS_PARSER = MultipartParser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
        **flask_smorest.Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "multipart": "multipart/form-data",
    }

    def __init__(self, *args, errors: tuple[int, ...] = (401, 429, 503), **kwargs):
        super().__init__(*args, **kwargs)
        self.blueprint_errors = tuple(errors)
        self._prepare_doc_cbks.append(self._prepare_errors_doc)

    def errors(self, *statuses: int):
        """Decorator documenting error statuses a view answers, beyond the blueprint's."""

        def decorator(func):
            for status in statuses:
                func = self.alt_response(status, http.HTTPStatus(status).name)(func)
            return func

        return decorator

    def _prepare_errors_doc(self, doc, doc_info, **kwargs):
        """Add the blueprint's error statuses to an operation's responses."""
        responses = doc.setdefault("responses", {})
        for status in self.blueprint_errors:
            responses.setdefault(status, http.HTTPStatus(status).name)
        return doc
