"""The OpenAPI document's Api object (flask-smorest: request validation and the document), with
the API's own error shape documented for every error status."""

from __future__ import annotations

import http

import flask_smorest
from flask_smorest.spec import prepare_response

from hcl_server.api.schemas import Error

RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before sending the request again",
        "schema": {"type": "integer"},
    }
}

# What each error status means in this API; the document lists, per operation, those it can answer.
ERROR_DESCRIPTIONS = {
    400: "The request is malformed: a body that is not JSON, an upload without a file or an empty file",
    401: "Missing or unknown API key (send it in the X-API-Key header)",
    404: "No such id in the caller's organization",
    409: "The resource is not in a state that allows this (not ready yet, or already finished)",
    413: "The body is over its limit: an upload over MAX_UPLOAD_MB, a JSON body over MAX_JSON_MB",
    415: "The uploaded file is of a type that cannot be read",
    422: "The request does not validate; the message names each bad field and details holds them by location",
    429: "The organization has ORG_MAX_ACTIVE_JOBS queued and running jobs; send it again after Retry-After",
    500: "A file the service should have produced could not be written",
    503: "The database, task queue or file storage is not reachable; nothing was changed, "
    "send it again after Retry-After",
}


class Api(flask_smorest.Api):
    """flask-smorest's Api documenting the API's own error shape (schemas.Error) for every error
    status, rather than flask-smorest's, and no catch-all ``default`` response: each operation
    lists the statuses it can answer (``Blueprint.errors``)."""

    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_responses(self):
        for status in http.HTTPStatus:
            if status < 400:
                continue
            response = {"description": ERROR_DESCRIPTIONS.get(status, status.phrase), "schema": Error}
            if status in (429, 503):
                response["headers"] = RETRY_AFTER
            prepare_response(response, self.spec, self.DEFAULT_RESPONSE_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)


openapi = Api()
