"""Service fixtures on the embedded defaults: SQLite file, local storage, file broker, a real worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def service_env(tmp_path_factory):
    base = tmp_path_factory.mktemp("service")
    env = {
        "DATABASE_URL": f"sqlite:///{base / 'hcl.sqlite3'}",
        "STORAGE_DIR": str(base / "storage"),
        "REDIS_URL": "",
        "S3_BUCKET": "",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def app(service_env):
    from flask_migrate import upgrade

    from hcl_server import create_app

    app = create_app({"TESTING": True})
    with app.app_context():
        upgrade()
    return app


@pytest.fixture(scope="session")
def worker(app, service_env):
    """A real Celery worker process, consuming the same broker folder and database."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_worker", "worker", "--pool=solo", "--loglevel=info"],
        cwd=ROOT,
        env={**os.environ, **service_env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield proc
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def make_org(app):
    def make(name: str) -> dict:
        result = app.test_cli_runner().invoke(args=["orgs", "create", name])
        assert result.exit_code == 0, result.output
        return json.loads(result.output.strip().splitlines()[-1])

    return make


@pytest.fixture(scope="session")
def org(make_org):
    return make_org("Acme")


@pytest.fixture
def wait(client, worker):
    """Poll a status URL until it is no longer queued or running (the worker does the work)."""

    def poll(url: str, key: str, timeout: float = 180.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            body = client.get(url, headers={"X-API-Key": key}).get_json()
            if body.get("status") not in ("queued", "running"):
                return body
            if worker.poll() is not None:
                raise AssertionError(f"the worker exited with {worker.returncode}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} still {body.get('status')} after {timeout} s: {body}")
            time.sleep(0.5)

    return poll
