"""Per-process caches of the lookups every request makes (its API key, the production model),
kept right by a generation counter that every process shares.

A request's authentication and its production-model lookup were two database queries, about
1.5 ms of a 4 ms prediction. They are now answered from memory, and stay right:

- Any committed change to the rows they read (an API key created, revoked or rotated; an alias
  moved, i.e. a promotion, rollback or automatic promotion; an organization's risk thresholds)
  bumps the generation. A SQLAlchemy session hook sees these writes, whatever service makes them,
  and bumps after the commit.
- Each request reads the generation once, before it reads the database. A cached answer is used
  only when it was stored under that same generation and is younger than ``LOOKUP_CACHE_S``.

So a revoked key answers 401 and a promotion scores with the new version from the next request
on, in every gunicorn worker and Celery process. The generation lives in Redis when REDIS_URL is
set (one GET per request) and otherwise in a file under STORAGE_DIR, which the embedded
defaults' processes share (one small read per request). When it cannot be read, nothing is
cached: every lookup goes to the database. ``LOOKUP_CACHE_S`` bounds how long a change made
behind the application's back (SQL typed by hand) can go unseen; 0 turns the caches off.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from flask import Flask, current_app, has_request_context, request
from sqlalchemy import event
from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)

EXTENSION = "hcl.generation"
REDIS_KEY = "hcl:lookup-generation"
_IN_REQUEST = "hcl.generation"
_TOUCHED = "hcl.lookups_touched"
# The tables whose rows the cached lookups read.
WATCHED_TABLES = frozenset({"api_keys", "model_versions", "model_aliases", "organizations"})


class RedisGeneration:
    """The generation as a Redis counter (INCR on a change)."""

    def __init__(self, url: str) -> None:
        import redis

        # Short timeouts: a request must not wait on a Redis that hangs; it falls back to the database.
        self._client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._prefix = f"{url}:".encode()

    def read(self) -> bytes | None:
        # Prefixed with the store, so two apps in one process (tests) never share an entry.
        return self._prefix + (self._client.get(REDIS_KEY) or b"0")

    def bump(self) -> None:
        self._client.incr(REDIS_KEY)


class FileGeneration:
    """The generation as a file's contents: a change writes a new random token and renames it
    into place, so a reader sees the old token or the new one, never a part."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._prefix = f"{path}:".encode()
        path.parent.mkdir(parents=True, exist_ok=True)

    def read(self) -> bytes | None:
        try:
            return self._prefix + self._path.read_bytes()
        except FileNotFoundError:
            return self._prefix + b"0"

    def bump(self) -> None:
        tmp = self._path.with_name(f".{self._path.name}.{os.getpid()}.{threading.get_ident()}")
        tmp.write_bytes(os.urandom(16).hex().encode())
        tmp.replace(self._path)


def init_generation(app: Flask) -> None:
    """Choose the generation's store from the app's settings (Redis with REDIS_URL, else a file
    under STORAGE_DIR) and watch the database session for changes to the cached rows."""
    if app.config["REDIS_URL"]:
        store: RedisGeneration | FileGeneration = RedisGeneration(app.config["REDIS_URL"])
    else:
        store = FileGeneration(Path(app.config["STORAGE_DIR"]) / "state" / "lookup-generation")
    app.extensions[EXTENSION] = store
    _watch_sessions()


def current_generation() -> bytes | None:
    """The shared generation, read once per request (a later read in the same request answers
    the same value); None when caching is off or the store does not answer."""
    if not current_app.config.get("LOOKUP_CACHE_S"):
        return None
    if has_request_context() and _IN_REQUEST in request.environ:
        return request.environ[_IN_REQUEST]
    try:
        value = current_app.extensions[EXTENSION].read()
    except Exception as exc:  # noqa: BLE001 - any failure means: do not trust the caches
        logger.warning("lookup generation unreadable, caches bypassed: %s", exc)
        value = None
    if has_request_context():
        request.environ[_IN_REQUEST] = value
    return value


def bump_generation() -> None:
    """Tell every process that the cached rows changed. A failure is logged: the caches then
    serve the old answer for at most ``LOOKUP_CACHE_S`` seconds."""
    try:
        current_app.extensions[EXTENSION].bump()
    except Exception as exc:  # noqa: BLE001 - the commit is done; a lost bump only ages out
        logger.error("could not bump the lookup generation (cached lookups age out instead): %s", exc)


class LookupCache:
    """A bounded per-process map whose entries hold only for the generation they were stored
    under and for at most ``LOOKUP_CACHE_S`` seconds. Thread-safe."""

    def __init__(self, size: int = 4096) -> None:
        self._entries: OrderedDict[Any, tuple[bytes, float, Any]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: Any, generation: bytes | None) -> tuple[bool, Any]:
        """(found, value) for ``key`` under ``generation``; never found when it is None."""
        if generation is None:
            return False, None
        max_age = float(current_app.config.get("LOOKUP_CACHE_S") or 0)
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry[0] != generation or time.monotonic() - entry[1] > max_age:
            return False, None
        return True, entry[2]

    def put(self, key: Any, generation: bytes | None, value: Any) -> None:
        """Keep ``value`` for ``key`` under ``generation`` (read before the database was)."""
        if generation is None:
            return
        with self._lock:
            self._entries[key] = (generation, time.monotonic(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_WATCHING = False


def _watch_sessions() -> None:
    """Mark a session whose flush or bulk statement writes a watched table; bump after its commit."""
    global _WATCHING
    if _WATCHING:
        return
    _WATCHING = True

    @event.listens_for(Session, "after_flush")
    def _flushed(session, _context) -> None:
        for obj in (*session.new, *session.dirty, *session.deleted):
            if getattr(obj, "__tablename__", None) in WATCHED_TABLES:
                session.info[_TOUCHED] = True
                return

    @event.listens_for(Session, "do_orm_execute")
    def _executed(state) -> None:
        if (state.is_update or state.is_delete) and _tables_of(state.statement) & WATCHED_TABLES:
            state.session.info[_TOUCHED] = True

    @event.listens_for(Session, "after_commit")
    def _committed(session) -> None:
        if session.info.pop(_TOUCHED, False):
            bump_generation()

    @event.listens_for(Session, "after_rollback")
    def _rolled_back(session) -> None:
        # Uncommitted writes were never visible to another process's lookups.
        session.info.pop(_TOUCHED, None)


def _tables_of(statement) -> set[str]:
    table = getattr(statement, "table", None)
    name = getattr(table, "name", None)
    return {name} if name else set()
