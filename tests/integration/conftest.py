"""Integration fixtures: the real PostgreSQL and Redis of this machine, a real S3-speaking server
(moto in server mode) on loopback, and real Celery worker processes.

Without PostgreSQL or Redis these tests skip with the reason; `.ci/run` sets HCL_REQUIRE_SERVICES=1,
which turns every such skip into a failure, so CI always runs them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUIRED = os.environ.get("HCL_REQUIRE_SERVICES") == "1"


def unavailable(reason: str):
    if REQUIRED:
        pytest.fail(f"{reason}; HCL_REQUIRE_SERVICES=1 requires the integration services", pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def fresh_schema(prefix: str = "hcl_it"):
    """The URL of a new, empty schema in the test database, dropped on exit; skips (fails under
    HCL_REQUIRE_SERVICES=1) when PostgreSQL does not answer."""
    import sqlalchemy as sa

    schema = f"{prefix}_{secrets.token_hex(4)}"
    try:
        engine = sa.create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:
        unavailable(f"PostgreSQL not reachable at {PG_URL}: {str(exc).splitlines()[0]}")
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


@pytest.fixture
def new_schema():
    """:func:`fresh_schema` for a test that needs a schema of its own (e.g. to run migrations)."""
    return fresh_schema


@pytest.fixture(scope="session")
def pg_url():
    """A fresh schema in the test database, dropped at the end."""
    with fresh_schema() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url():
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
    except Exception as exc:
        unavailable(f"Redis not reachable at {REDIS_URL}: {exc}")
    client.flushdb()
    yield REDIS_URL
    client.flushdb()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """moto's S3 server on a fixed loopback port that a test can stop and start again.

    moto keeps its buckets in this process, so a server started again on the same port serves
    the same objects: to a client, S3 was away and came back.
    """

    def __init__(self) -> None:
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.server = None

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        """Stop serving and close the listening socket, so connections are refused (moto's own
        stop leaves the socket open: connections would hang rather than fail)."""
        if self.server is not None:
            self.server.stop()
            self.server._server.server_close()
            self.server = None

    def down_for(self, seconds: float) -> threading.Thread:
        """Stop the server now and start it again after ``seconds``, on a thread (returned)."""
        self.stop()
        back = threading.Timer(seconds, self.start)
        back.start()
        return back


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on a loopback port, with the bucket created."""
    import boto3

    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    server = S3Server()
    server.start()
    boto3.client("s3", endpoint_url=server.endpoint).create_bucket(Bucket="hcl-it")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_endpoint(s3_server):
    return s3_server.endpoint


@pytest.fixture(scope="session")
def it_env(pg_url, redis_url, s3_endpoint, tmp_path_factory):
    env = {
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_url,
        "S3_BUCKET": "hcl-it",
        "S3_ENDPOINT_URL": s3_endpoint,
        "STORAGE_DIR": str(tmp_path_factory.mktemp("it-storage")),
        "BULK_PARTITION_CUSTOMERS": "300",
        # A killed worker's work comes back through the reconciler (tests/integration/test_chaos.py),
        # not by Redis redelivering a task whose worker did not acknowledge it in time.
        "JOB_HEARTBEAT_S": "1",
        "JOB_STALE_S": "6",
        # S3 calls give up after 8 s (30 by default), so an outage test that outlasts them is short.
        "STORAGE_RETRY_S": "8",
        # No rate limit: the chaos tests poll every 50 ms (its own test: test_rate_limit_redis.py).
        "RATE_LIMIT": "",
        # Webhook retries after 0.5 and 1 s (tests/integration/test_webhooks_real.py).
        "WEBHOOK_RETRY_DELAYS_S": "0.5,1,2",
        "WEBHOOK_MAX_ATTEMPTS": "4",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    return env


@pytest.fixture(scope="session")
def it_app(it_env):
    from flask_migrate import upgrade

    from hcl_server import create_app

    app = create_app(
        {
            "TESTING": True,
            **{k: v for k, v in it_env.items() if not k.startswith("AWS")},
            "BULK_PARTITION_CUSTOMERS": 300,
            "STORAGE_RETRY_S": 8.0,
        }
    )
    with app.app_context():
        upgrade()
    return app


@pytest.fixture(scope="session")
def start_worker(it_env, tmp_path_factory):
    """Start real worker processes (solo pool, so a kill stops the task itself); all stopped at the end."""
    procs = []
    logs = tmp_path_factory.mktemp("workers")

    def start() -> subprocess.Popen:
        log = open(logs / f"worker-{len(procs)}.log", "w")  # noqa: SIM115
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "celery_worker",
                "worker",
                "--pool=solo",
                "--loglevel=info",
                "-n",
                f"it{len(procs)}@%h",
            ],
            cwd=ROOT,
            env={**os.environ, **it_env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="session")
def it_org(it_app):
    import json

    result = it_app.test_cli_runner().invoke(args=["orgs", "create", "Integration"])
    return json.loads(result.output.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def poll():
    """Poll a status URL until a condition on its body holds (default: finished)."""

    def wait(client, url: str, key: str, timeout: float = 240.0, done=None) -> dict:
        done = done or (lambda body: body.get("status") in ("succeeded", "failed", "cancelled"))
        deadline = time.monotonic() + timeout
        while True:
            body = client.get(url, headers={"X-API-Key": key}).get_json()
            if done(body):
                return body
            if time.monotonic() > deadline:
                raise AssertionError(f"{url}: condition not met after {timeout} s: {body}")
            time.sleep(0.3)

    return wait


def synthetic_csv(n_customers: int, n_events: int, seed: int) -> bytes:
    """A synthetic event log as CSV bytes, dates written YYYY-MM-DD."""
    from ml_pipeline.data.synthetic import generate_events

    frame = generate_events(n_customers=n_customers, n_events=n_events, days=400, seed=seed)
    return frame.assign(event_date=frame["event_date"].dt.strftime("%Y-%m-%d")).to_csv(index=False).encode()


def upload_file(client, url: str, key: str, data: bytes, filename: str = "events.csv"):
    """POST ``data`` as the multipart field ``file``."""
    import io

    return client.post(
        url,
        headers={"X-API-Key": key},
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(data), filename)},
    )


@pytest.fixture(scope="session")
def events_csv():
    """``synthetic_csv`` for test modules (a conftest is not imported by name)."""
    return synthetic_csv


@pytest.fixture(scope="session")
def upload():
    """``upload_file`` for test modules."""
    return upload_file


@pytest.fixture(scope="session")
def worker_logs(tmp_path_factory):
    """The text of every worker log written so far (a worker writes its log as it goes)."""
    base = tmp_path_factory.getbasetemp()
    return lambda: "".join(p.read_text(errors="replace") for p in sorted(base.glob("workers*/worker-*.log")))


@pytest.fixture(scope="session")
def worker(start_worker):
    return start_worker()


@pytest.fixture(scope="session")
def trained(it_app, it_org, worker, poll):
    """A dataset profiled and a model trained by the real worker, shared by every module."""
    client, key = it_app.test_client(), it_org["api_key"]
    ds = upload_file(client, "/api/v1/datasets", key, synthetic_csv(1200, 15000, seed=21))
    assert ds.status_code == 202
    dataset = poll(client, ds.headers["Location"], key)
    assert dataset["status"] == "succeeded", dataset
    job = client.post("/api/v1/training-jobs", headers={"X-API-Key": key}, json={"dataset_id": dataset["id"]})
    done = poll(client, job.headers["Location"], key)
    assert done["status"] == "succeeded", done
    return {"dataset": dataset, "job": done}


class RedisServer:
    """A redis-server of a test on a loopback port, without persistence: a kill loses every
    message in it, as a restarted Redis without AOF or RDB does. Never the machine's own Redis."""

    def __init__(self, folder: Path):
        self.port, self.folder, self.proc = _free_port(), folder, None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(
            ["redis-server", *args], cwd=self.folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    """A private Redis server for the module (killed and restarted by chaos tests)."""
    import shutil

    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    if server.proc.poll() is None:
        server.kill()
