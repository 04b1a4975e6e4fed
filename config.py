"""Every setting, read from the environment and typed; nothing else reads os.environ."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(part) for part in text.split(",") if part.strip())


@dataclass
class Config:
    """Settings for the Flask app and the Celery worker (see the README's settings table)."""

    SECRET_KEY: str = field(default_factory=lambda: _env("SECRET_KEY", "dev-only-change-me"))
    # The web pages' session cookie (hcl_server/web): HTTP-only, SameSite=Lax, and sent over
    # HTTPS only unless SESSION_COOKIE_SECURE=0 (browsers take it from http://localhost too).
    SESSION_COOKIE_SECURE: bool = field(default_factory=lambda: _env("SESSION_COOKIE_SECURE", "1") != "0")
    SESSION_COOKIE_HTTPONLY: bool = True
    SESSION_COOKIE_SAMESITE: str = "Lax"
    # Forms of the web pages carry a CSRF token, checked by the web blueprint only (the API's
    # callers send X-API-Key, which a browser never adds by itself).
    WTF_CSRF_CHECK_DEFAULT: bool = False
    DATABASE_URL: str = field(
        default_factory=lambda: _env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'instance' / 'hcl.sqlite3'}")
    )
    # Empty REDIS_URL selects the embedded broker, which needs no server.
    REDIS_URL: str = field(default_factory=lambda: _env("REDIS_URL", ""))
    STORAGE_DIR: str = field(default_factory=lambda: _env("STORAGE_DIR", str(BASE_DIR / "storage")))
    # With S3_BUCKET set, files live in that bucket (S3_ENDPOINT_URL for MinIO, R2, moto, ...).
    S3_BUCKET: str = field(default_factory=lambda: _env("S3_BUCKET", ""))
    S3_ENDPOINT_URL: str = field(default_factory=lambda: _env("S3_ENDPOINT_URL", ""))
    # Seconds an S3 call keeps trying (with backoff) while the storage does not answer, before the
    # job or request fails with "the file storage did not answer".
    STORAGE_RETRY_S: float = field(default_factory=lambda: float(_env("STORAGE_RETRY_S", "30")))
    MAX_UPLOAD_MB: int = field(default_factory=lambda: int(_env("MAX_UPLOAD_MB", "200")))
    # A JSON body (predict, predict/batch, training) larger than this answers 413.
    MAX_JSON_MB: int = field(default_factory=lambda: int(_env("MAX_JSON_MB", "32")))
    # Largest contents of a compressed upload (.gz, .xlsx), checked before it is parsed: a small
    # file can unpack to gigabytes. Empty: five times MAX_UPLOAD_MB (a CSV gzips 5-10x).
    MAX_INFLATED_MB: float = field(default_factory=lambda: float(_env("MAX_INFLATED_MB", "") or 0))
    # Customers per bulk-scoring partition: a worker's memory is bounded by this, not by the file.
    BULK_PARTITION_CUSTOMERS: int = field(
        default_factory=lambda: int(_env("BULK_PARTITION_CUSTOMERS", "100000"))
    )
    # Redis redelivers an unacknowledged task after this many seconds: keep it above the longest task.
    CELERY_VISIBILITY_TIMEOUT: int = field(
        default_factory=lambda: int(_env("CELERY_VISIBILITY_TIMEOUT", "14400"))
    )
    # A running task writes a heartbeat this often; a row whose heartbeat is older than
    # JOB_STALE_S has lost its worker and is taken over (the reconciler re-sends its task).
    JOB_HEARTBEAT_S: float = field(default_factory=lambda: float(_env("JOB_HEARTBEAT_S", "10")))
    JOB_STALE_S: float = field(default_factory=lambda: float(_env("JOB_STALE_S", "60")))
    # How often the reconciler (Celery beat) looks for lost and stalled work.
    RECONCILE_EVERY_S: float = field(default_factory=lambda: float(_env("RECONCILE_EVERY_S", "30")))
    # How often Celery beat looks for organizations' scheduled retrains and re-scores that are due.
    SCHEDULES_EVERY_S: float = field(default_factory=lambda: float(_env("SCHEDULES_EVERY_S", "60")))
    # Queued and running jobs and datasets one organization may have; more answers 429.
    ORG_MAX_ACTIVE_JOBS: int = field(default_factory=lambda: int(_env("ORG_MAX_ACTIVE_JOBS", "10")))
    # Requests one API key may make, e.g. "600/minute" or "20/second;600/minute" (Flask-Limiter's
    # notation); counted in Redis when REDIS_URL is set, else in each process. Empty: no limit.
    RATE_LIMIT: str = field(default_factory=lambda: _env("RATE_LIMIT", "600/minute"))
    # Webhooks: each attempt's timeout (connect and answer), the waits before the 1st, 2nd, ...
    # retry (the last one repeats), and the attempts after which a delivery is failed.
    WEBHOOK_TIMEOUT_S: float = field(default_factory=lambda: float(_env("WEBHOOK_TIMEOUT_S", "5")))
    WEBHOOK_RETRY_DELAYS_S: tuple[float, ...] = field(
        default_factory=lambda: _floats(_env("WEBHOOK_RETRY_DELAYS_S", "10,30,120,600,3600,21600"))
    )
    WEBHOOK_MAX_ATTEMPTS: int = field(default_factory=lambda: int(_env("WEBHOOK_MAX_ATTEMPTS", "7")))
    # Seconds a process may answer an API key or production-model lookup from memory; any change
    # made through the service is seen at once anyway (hcl_server/generation.py). 0: no caching.
    LOOKUP_CACHE_S: float = field(default_factory=lambda: float(_env("LOOKUP_CACHE_S", "60")))
    PORT: int = field(default_factory=lambda: int(_env("PORT", "5000")))

    def __post_init__(self) -> None:
        if not self.MAX_INFLATED_MB:
            self.MAX_INFLATED_MB = 5.0 * self.MAX_UPLOAD_MB

    def as_flask(self) -> dict:
        """Settings as the upper-case mapping Flask and its extensions expect."""
        settings = dict(self.__dict__)
        settings.update(
            SQLALCHEMY_DATABASE_URI=self.DATABASE_URL,
            SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
            MAX_CONTENT_LENGTH=self.MAX_UPLOAD_MB * 1024 * 1024,
            API_TITLE="hcl_server",
            API_VERSION="v1",
            OPENAPI_VERSION="3.0.3",
            OPENAPI_URL_PREFIX="/",
            OPENAPI_JSON_PATH="api/v1/openapi.json",
            OPENAPI_SWAGGER_UI_PATH="docs",
            # Swagger UI's files are served by the app (hcl_server/api/docs.py), so /docs works offline;
            # no validator badge, which Swagger UI would fetch from the internet.
            OPENAPI_SWAGGER_UI_URL="/docs/swagger-ui/",
            OPENAPI_SWAGGER_UI_CONFIG={"validatorUrl": None},
        )
        return settings
