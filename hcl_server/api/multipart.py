"""Uploads: a file and form fields read by one schema and documented as one multipart/form-data
request body (flask-smorest documents a single body location per view, so a schema for the
files and another for the form left the file out of the OpenAPI document)."""

from __future__ import annotations

import flask_smorest
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict


class MultipartParser(FlaskParser):
    """webargs' Flask parser with one more location, ``multipart``: the files and form fields of
    the request together (fields it does not know are refused, as for ``form``)."""

    __location_map__ = dict(multipart="load_multipart", **FlaskParser.__location_map__)

    def load_multipart(self, req, schema):
        """The request's files and form fields as one MultiDictProxy."""
        return self._makeproxy(CombinedMultiDict([req.files, req.form]), schema)


class Blueprint(flask_smorest.Blueprint):
    """A flask-smorest Blueprint whose views can take ``@blp.arguments(..., location="multipart")``."""

    ARGUMENTS_PARSER = MultipartParser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
        **flask_smorest.Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "multipart": "multipart/form-data",
    }
