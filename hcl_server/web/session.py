"""Who a web page is signed in as: the API key's id in Flask's signed session cookie."""

from __future__ import annotations

from flask import session

from hcl_server.services.orgs import KeyRef, key_by_id, key_for

_KEY_ID = "api_key_id"


def sign_in(api_key: str) -> KeyRef | None:
    """Remember the unrevoked key ``api_key`` (plaintext) for this browser; None if it is not
    one. The session is cleared first, so nothing of an earlier sign-in carries over."""
    found = key_for(api_key.strip())
    if found is None:
        return None
    session.clear()
    session[_KEY_ID] = found.id
    session.permanent = False  # gone when the browser closes
    return found


def signed_in() -> KeyRef | None:
    """The signed-in key if it is still unrevoked, else None (and the session is cleared)."""
    found = key_by_id(session.get(_KEY_ID))
    if found is None:
        session.pop(_KEY_ID, None)
    return found


def sign_out() -> None:
    session.clear()
