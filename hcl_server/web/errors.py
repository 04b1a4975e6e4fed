"""Errors on the web pages answer a page that says what happened and what to do, not the API's
JSON body."""

from __future__ import annotations

from flask import render_template, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from hcl_server.api.errors import STATUS_OF
from hcl_server.errors import DomainError
from hcl_server.web import bp


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
