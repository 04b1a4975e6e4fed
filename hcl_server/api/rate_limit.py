"""A per-API-key rate limit (Flask-Limiter): ``RATE_LIMIT`` requests per key, counted in Redis
when ``REDIS_URL`` is set (shared by every web process) and in the process's memory otherwise.

Only requests with a valid key are counted, under the key's id (never the key, nor its hash);
/health, /docs and requests without a valid key (which answer 401) are not. The window is fixed:
it starts at a key's first request and the count resets when it ends. When Redis does not answer,
each process counts in its own memory until Redis is back, so the API keeps answering.
A request over the limit answers 429 in the API's error shape with ``Retry-After``
(api/errors.py).
"""

from __future__ import annotations

import math
import time

from flask import Flask, current_app, request
from flask_limiter import Limiter, RateLimitExceeded
from limits import parse_many
from sqlalchemy.exc import InterfaceError, OperationalError

from hcl_server.api.auth import current_key
from hcl_server.api.errors import error_response

EXTENSION = "hcl_rate_limit"
KEY_PREFIX = "hcl-api-key"
REDIS_TIMEOUT_S = 2  # a Redis that does not answer costs a request at most this, then memory counts


def init_rate_limit(app: Flask) -> Limiter | None:
    """Attach the per-key limiter to ``app`` (one Limiter per app: tests build apps with other
    limits); None when ``RATE_LIMIT`` is empty. Raises ValueError for a RATE_LIMIT that is not a
    limit such as ``600/minute``."""
    rate = (app.config.get("RATE_LIMIT") or "").strip()
    if not rate:
        return None
    try:
        parse_many(rate)
    except ValueError as exc:
        raise ValueError(f"RATE_LIMIT={rate!r} is not a rate limit such as 600/minute: {exc}") from exc
    redis_url = app.config.get("REDIS_URL") or ""
    limiter = Limiter(
        key_func=_limit_key,
        application_limits=[rate],
        storage_uri=redis_url or "memory://",
        storage_options=(
            {"socket_connect_timeout": REDIS_TIMEOUT_S, "socket_timeout": REDIS_TIMEOUT_S}
            if redis_url
            else {}
        ),
        strategy="fixed-window",
        key_prefix=KEY_PREFIX,
        in_memory_fallback=[rate],
        swallow_errors=True,
        headers_enabled=False,
    )
    limiter.request_filter(_not_counted)
    limiter.init_app(app)
    app.extensions[EXTENSION] = limiter
    app.register_error_handler(RateLimitExceeded, _rate_limited)
    return limiter


def _rate_limited(exc: RateLimitExceeded):
    """429 in the API's error shape, with Retry-After."""
    retry = retry_after_s(exc)
    limit = str(exc.limit.limit)
    response, status = error_response(
        429,
        f"too many requests with this API key: the limit is {limit}; retry after {retry} s",
        details={"limit": limit, "retry_after_s": retry},
    )
    response.headers["Retry-After"] = str(retry)
    return response, status


def _not_counted() -> bool:
    """Requests outside /api/v1 (health, docs) and requests without a valid key are not counted."""
    if not request.path.startswith("/api/v1/") or not request.headers.get("X-API-Key"):
        return True
    try:
        return current_key() is None
    except (OperationalError, InterfaceError):
        return True  # the database is down: the authentication answers 503 right after


def _limit_key() -> str:
    """The request's key id (only called for requests ``_not_counted`` let through)."""
    found = current_key()
    return found.id if found else ""


def retry_after_s(exc) -> int:
    """Whole seconds until the breached limit's window ends (at least 1), for ``Retry-After``;
    ``exc`` is Flask-Limiter's RateLimitExceeded."""
    window_s = int(exc.limit.limit.get_expiry())
    limiter = current_app.extensions.get(EXTENSION)
    try:
        reset_at = limiter.current_limit.reset_at  # Flask-Limiter rounds it up by a second
    except Exception:  # noqa: BLE001 - the storage went away between the hit and this read
        return max(1, window_s)
    return max(1, min(window_s, math.ceil(reset_at - time.time())))
