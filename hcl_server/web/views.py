"""The pages: sign in with an API key, the dashboard summary as the landing page, sign out."""

from __future__ import annotations

from functools import wraps

from flask import g, redirect, render_template, request, url_for

from hcl_server.extensions import csrf
from hcl_server.services import dashboard
from hcl_server.web import bp
from hcl_server.web.session import sign_in, sign_out, signed_in


@bp.before_request
def _protect_forms() -> None:
    # Every form of these pages carries the session's CSRF token (Flask-WTF); the API's routes
    # are not checked (WTF_CSRF_CHECK_DEFAULT is off), their callers send X-API-Key.
    csrf.protect()


def signed_in_only(view):
    """Run ``view`` with ``g.org_id`` set, or send the browser to the sign-in page."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        found = signed_in()
        if found is None:
            return redirect(url_for("web.sign_in_page", next=request.path))
        g.org_id = found.organization_id
        return view(*args, **kwargs)

    return wrapper


@bp.get("/")
@signed_in_only
def home():
    """The landing page: the organization's dashboard summary."""
    return render_template("web/dashboard.html", summary=dashboard.summary(g.org_id))


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in_page():
    """The sign-in form; a POST with a valid key signs in and goes on to the page asked for."""
    error = None
    if request.method == "POST":
        if sign_in(request.form.get("api_key", "")) is not None:
            return redirect(_local(request.args.get("next")))
        error = (
            "That API key is unknown or revoked. Create one with `flask orgs create NAME` or ask an admin."
        )
    elif signed_in() is not None:
        return redirect(url_for("web.home"))
    return render_template("web/sign_in.html", error=error), 401 if error else 200


@bp.post("/sign-out")
def sign_out_page():
    sign_out()
    return redirect(url_for("web.sign_in_page"))


def _local(target: str | None) -> str:
    """Only a path of these pages is followed after signing in (no open redirect)."""
    if target and target.startswith("/app") and not target.startswith("//"):
        return target
    return url_for("web.home")
