"""Every setting, read from the environment and typed; nothing else reads os.environ."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


@dataclass
class Config:
    """Settings for the Flask app and the Celery worker (see the README's settings table)."""

    SECRET_KEY: str = field(default_factory=lambda: _env("SECRET_KEY", "dev-only-change-me"))
    DATABASE_URL: str = field(
        default_factory=lambda: _env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'instance' / 'hcl.sqlite3'}")
    )
    # Empty REDIS_URL selects the embedded broker, which needs no server.
    REDIS_URL: str = field(default_factory=lambda: _env("REDIS_URL", ""))
    STORAGE_DIR: str = field(default_factory=lambda: _env("STORAGE_DIR", str(BASE_DIR / "storage")))
    MODELS_DIR: str = field(default_factory=lambda: _env("MODELS_DIR", str(BASE_DIR / "models")))
    PORT: int = field(default_factory=lambda: int(_env("PORT", "5000")))

    def as_flask(self) -> dict:
        """Settings as the upper-case mapping Flask's config expects."""
        return dict(self.__dict__)
