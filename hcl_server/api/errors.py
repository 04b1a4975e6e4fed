"""One JSON error shape for every failure: {"error": {"status", "code", "message", "details"}}."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from hcl_server.errors import (
    Conflict,
    DomainError,
    Invalid,
    NotFound,
    OutputFailed,
    TooManyJobs,
    Unavailable,
    Unprocessable,
    UnsupportedFile,
)
from hcl_server.extensions import db

logger = logging.getLogger(__name__)
RETRY_AFTER_S = 10
BUSY_RETRY_AFTER_S = 30  # an organization at its job limit: jobs take a minute or more to finish


def error_response(status: int, message: str, details: dict | None = None, code: str | None = None):
    """Build the JSON error response every endpoint uses."""
    body = {"status": status, "code": code or _code(status), "message": message}
    if details:
        body["details"] = details
    return jsonify(error=body), status


def _code(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


# The one place where a domain error becomes an HTTP status.
STATUS_OF: dict[type[DomainError], int] = {
    DomainError: 400,
    Invalid: 400,
    NotFound: 404,
    Conflict: 409,
    UnsupportedFile: 415,
    Unprocessable: 422,
    TooManyJobs: 429,
    OutputFailed: 500,
    Unavailable: 503,
}


def invalid_fields(messages: dict, shown: int = 5) -> str:
    """webargs' messages ({location: {field: [texts]}}) in one line naming each field, e.g.
    "decimal: Must be one of: dot, comma."; past ``shown`` fields it points to the details."""
    parts: list[str] = []

    def walk(node, path: list[str]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, [*path, str(key)])
        elif isinstance(node, list) and not all(isinstance(x, str) for x in node):
            for value in node:
                walk(value, path)
        else:
            texts = node if isinstance(node, list) else [str(node)]
            parts.append(f"{'.'.join(path) or 'body'}: {' '.join(texts)}")

    for fields in messages.values():  # the location (json, form, files, query) is in the details
        walk(fields, [])
    more = f"; and {len(parts) - shown} more (see details)" if len(parts) > shown else ""
    return "; ".join(parts[:shown]) + more


class ApiError(Exception):
    """Raised by views and the API's hooks for an HTTP-level client error (401, a body check)."""

    def __init__(self, status: int, message: str, details: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.details = status, message, details


def register_error_handlers(app: Flask) -> None:
    """Every error, from Flask, webargs validation or our services, answers the same shape."""

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return error_response(exc.status, exc.message, exc.details)

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        status = next(STATUS_OF[c] for c in type(exc).__mro__ if c in STATUS_OF)
        response, status = error_response(status, exc.message, exc.details)
        if status in (429, 503):
            response.headers["Retry-After"] = str(RETRY_AFTER_S if status == 503 else BUSY_RETRY_AFTER_S)
        return response, status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        details = None
        data = getattr(exc, "data", None)
        if isinstance(data, dict) and "messages" in data:
            details = data["messages"]
            message = f"the request is not valid: {invalid_fields(details)}"
        elif exc.code == 413:
            message = f"the upload is larger than the limit of {app.config['MAX_UPLOAD_MB']} MB"
        else:
            message = exc.description or exc.name
        return error_response(exc.code or 500, message, details)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def database_unreachable(exc: Exception):
        # The database is down or the connection dropped: the request can be sent again as it is.
        logger.warning("database unreachable: %s", str(exc).splitlines()[0])
        db.session.rollback()
        response, status = error_response(
            503, "the database is not reachable; nothing was changed, try again shortly"
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response, status

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        logger.exception("unhandled error")
        return error_response(500, "internal error; the request was not completed")
