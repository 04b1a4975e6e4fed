"""Object storage: a local folder by default, any S3-compatible store when S3_BUCKET is set.

S3 calls ride out a short outage: botocore retries each request a few times (standard mode), and
every S3Storage call is tried again with exponential backoff for about ``retry_s`` seconds in all
on a connection error, a timeout or a 5xx answer. A storage that stays away longer raises
StorageUnavailable, whose message says so in words (a job fails with it, a request answers 503).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TypeVar

from flask import Flask, current_app

from hcl_server.errors import StorageUnavailable

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Each request: at most 4 attempts inside botocore (it backs off up to 1 + 2 + 4 s between them),
# 5 s to connect and 60 s between two reads of a body; the bounded loop below adds the rest.
_CLIENT = {"retries": {"mode": "standard", "max_attempts": 4}, "connect_timeout": 5, "read_timeout": 60}
# The readiness ping must answer within a few seconds even while S3 hangs: one attempt, short timeouts.
_PING_CLIENT = {
    "retries": {"mode": "standard", "total_max_attempts": 1},
    "connect_timeout": 2,
    "read_timeout": 2,
}
_FIRST_WAIT_S, _LONGEST_WAIT_S = 0.5, 8.0


class LocalStorage:
    """Keys are relative paths under a root folder; writes go through a temporary file."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"storage key escapes the root: {key}")
        return path

    def put_file(self, key: str, source: str | Path) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(source, tmp)
        tmp.replace(target)

    def get_file(self, key: str, dest: str | Path) -> None:
        shutil.copyfile(self._path(key), dest)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix)
        if not base.is_dir():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file())

    def ping(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        probe = self.root / ".ready"
        probe.write_text("ok")


def _name(key: str) -> str:
    return key.rstrip("/").rsplit("/", 1)[-1]


def transient(exc: BaseException) -> bool:
    """Whether an S3 call's exception may pass if the call is made again: no connection, a
    timeout, a dropped connection or a 5xx/throttling answer (also when wrapped by boto3's
    transfer errors, found through the exception's cause or context)."""
    from botocore.exceptions import ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from s3transfer.exceptions import RetriesExceededError

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, BotoConnectionError | HTTPClientError | RetriesExceededError | ConnectionError):
            return True
        if isinstance(exc, ClientError):
            meta = exc.response.get("ResponseMetadata", {})
            code = exc.response.get("Error", {}).get("Code", "")
            return meta.get("HTTPStatusCode", 0) >= 500 or code in (
                "SlowDown",
                "Throttling",
                "RequestTimeout",
            )
        exc = exc.__cause__ or exc.__context__
    return False


class S3Storage:
    """An S3 bucket through one cached boto3 client honouring S3_ENDPOINT_URL.

    ``retry_s``: how long in all (seconds, about) a call keeps trying while S3 does not answer
    before it raises StorageUnavailable.
    """

    def __init__(self, bucket: str, endpoint_url: str | None = None, retry_s: float = 30.0):
        self.bucket = bucket
        self.endpoint_url = endpoint_url or None
        self.retry_s = retry_s

    def _client(self, settings: dict):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint_url, config=Config(**settings))

    @cached_property
    def client(self):
        """The boto3 S3 client of this storage (retries and timeouts as in ``_CLIENT``)."""
        return self._client(_CLIENT)

    @cached_property
    def _ping_client(self):
        return self._client(_PING_CLIENT)

    def _retrying(self, what: str, call: Callable[[], T]) -> T:
        """``call()``, made again after 0.5, 1, 2, 4, 8, 8, ... s while it fails with a transient
        error, until ``retry_s`` seconds have passed (the last wait is cut to end then); then
        StorageUnavailable naming ``what``. Other errors are raised at once."""
        start, wait = time.monotonic(), _FIRST_WAIT_S
        while True:
            try:
                return call()
            except Exception as exc:
                if not transient(exc):
                    raise
                elapsed = time.monotonic() - start
                if elapsed >= self.retry_s:
                    # The client reads no endpoint or bucket; the log has the exception.
                    logger.warning("storage: %s failed for %.0f s; giving up: %s", what, elapsed, exc)
                    raise StorageUnavailable(
                        f"the file storage did not answer for {elapsed:.0f} s (while {what}); "
                        "submit it again when the storage is back"
                    ) from exc
                # The last wait ends at the budget, so a storage back just then is still met.
                pause = min(wait, self.retry_s - elapsed)
                logger.warning("storage: %s failed (%s); trying again in %.1f s", what, exc, pause)
                time.sleep(pause)
                wait = min(wait * 2, _LONGEST_WAIT_S)

    def put_file(self, key: str, source: str | Path) -> None:
        """Upload a local file to ``key``. Raises StorageUnavailable (see ``_retrying``)."""
        self._retrying(
            f"storing {_name(key)}", lambda: self.client.upload_file(str(source), self.bucket, key)
        )

    def get_file(self, key: str, dest: str | Path) -> None:
        """Download ``key`` to a local file. Raises StorageUnavailable (see ``_retrying``), or
        botocore's ClientError for a missing key."""
        self._retrying(
            f"reading {_name(key)}", lambda: self.client.download_file(self.bucket, key, str(dest))
        )

    def exists(self, key: str) -> bool:
        """Whether ``key`` is stored; StorageUnavailable when S3 does not answer (an outage is not
        "missing")."""
        from botocore.exceptions import ClientError

        def head() -> bool:
            try:
                self.client.head_object(Bucket=self.bucket, Key=key)
                return True
            except ClientError as exc:
                if transient(exc):
                    raise
                return False

        return self._retrying(f"looking for {_name(key)}", head)

    def list(self, prefix: str) -> list[str]:
        """Every key under ``prefix``, sorted. Raises StorageUnavailable (see ``_retrying``)."""

        def keys() -> list[str]:
            out: list[str] = []
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            for page in pages:
                out += [o["Key"] for o in page.get("Contents", [])]
            return sorted(out)

        return self._retrying(f"listing {_name(prefix)}", keys)

    def ping(self) -> None:
        """Raise unless the bucket answers within a few seconds (one attempt, 2 s timeouts)."""
        self._ping_client.head_bucket(Bucket=self.bucket)


def init_storage(app: Flask) -> None:
    """Choose the storage for this app from its config."""
    if app.config["S3_BUCKET"]:
        app.extensions["storage"] = S3Storage(
            app.config["S3_BUCKET"], app.config["S3_ENDPOINT_URL"], retry_s=app.config["STORAGE_RETRY_S"]
        )
    else:
        app.extensions["storage"] = LocalStorage(app.config["STORAGE_DIR"])


def storage() -> LocalStorage | S3Storage:
    """The current app's storage."""
    return current_app.extensions["storage"]


def put_dir(prefix: str, folder: Path) -> None:
    """Upload every file of a folder under ``prefix``."""
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            storage().put_file(f"{prefix}/{path.relative_to(folder)}", path)


def get_dir(prefix: str, folder: Path) -> None:
    """Download every object under ``prefix`` into a folder."""
    for key in storage().list(prefix):
        target = folder / key[len(prefix) + 1 :]
        target.parent.mkdir(parents=True, exist_ok=True)
        storage().get_file(key, target)
