"""Errors on the web pages answer a page that says what happened and what to do, not the API's
JSON body."""

from __future__ import annotations

import logging

from flask import render_template, url_for
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from hcl_server.api.errors import STATUS_OF
from hcl_server.errors import DomainError
from hcl_server.extensions import db
from hcl_server.web import bp

logger = logging.getLogger(__name__)


def _page(status: int, title: str, message: str):
    return render_template("web/error.html", title=title, message=message, home=url_for("web.home")), status


@bp.errorhandler(CSRFError)
def form_expired(exc: CSRFError):
    return _page(
        400,
        "The form has expired",
        f"{exc.description} Go back, reload the page and send the form again (sign in again if asked).",
    )


@bp.errorhandler(DomainError)
def refused(exc: DomainError):
    status = next(STATUS_OF[c] for c in type(exc).__mro__ if c in STATUS_OF)
    return _page(status, "That could not be done", exc.message)


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    return _page(exc.code or 500, exc.name, exc.description or "")


# A blueprint's handlers are looked up before the app's, for each class of the error in turn:
# these two keep the API's JSON answers away from the pages.
@bp.errorhandler(OperationalError)
@bp.errorhandler(InterfaceError)
def database_unreachable(exc: Exception):
    logger.warning("database unreachable: %s", str(exc).splitlines()[0])
    db.session.rollback()
    return _page(
        503, "The database is not reachable", "Nothing was changed. Try again in a moment (reload the page)."
    )


@bp.errorhandler(Exception)
def unexpected(exc: Exception):
    logger.exception("unhandled error on a page")
    db.session.rollback()
    return _page(
        500,
        "Something went wrong on our side",
        "The request was not completed and nothing was kept of it. Try again; if it happens again, "
        "tell the service's operators the time it happened (the server's log has the details).",
    )
