"""Service fixtures on the embedded defaults: SQLite file, local storage, file broker, a real worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
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
        "BULK_PARTITION_CUSTOMERS": "150",
        # Small, so a test's compressed upload can pass it cheaply (tests/service/test_hostile_requests.py).
        "MAX_INFLATED_MB": "5",
        # No rate limit: the fuzz sends thousands of requests with one key. Its own tests set one
        # (tests/service/test_rate_limit.py).
        "RATE_LIMIT": "",
        # Webhook retries in seconds, not minutes (tests/service/test_webhooks_api.py); the worker
        # is started once per session, so they are set here.
        "WEBHOOK_RETRY_DELAYS_S": "0.5,1,2",
        "WEBHOOK_MAX_ATTEMPTS": "4",
        "WEBHOOK_TIMEOUT_S": "3",
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
    """A real Celery worker process, consuming the same broker folder and database (log: worker.log)."""
    log = open(Path(service_env["STORAGE_DIR"]).parent / "worker.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_worker", "worker", "--pool=solo", "--loglevel=info"],
        cwd=ROOT,
        env={**os.environ, **service_env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield proc
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


@pytest.fixture(scope="session")
def log_bytes() -> bytes:
    """A 400-customer synthetic log plus one customer whose id is a spreadsheet formula."""
    from ml_pipeline.data.synthetic import generate_events

    frame = generate_events(n_customers=400, n_events=6000, days=400, seed=11)
    evil = frame[frame["customer_id"] == frame["customer_id"].iloc[0]].assign(
        customer_id='=HYPERLINK("http://x")'
    )
    frame = pd.concat([frame, evil]).sort_values("event_date", kind="stable")
    return frame.assign(event_date=frame["event_date"].dt.strftime("%Y-%m-%d")).to_csv(index=False).encode()


@pytest.fixture(scope="session")
def upload():
    """POST a file as multipart field 'file' with extra form fields."""
    import io

    def post(client, url: str, key: str, data: bytes, filename: str = "events.csv", **form):
        return client.post(
            url,
            headers={"X-API-Key": key},
            content_type="multipart/form-data",
            data={"file": (io.BytesIO(data), filename), **form},
        )

    return post


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


@pytest.fixture(scope="session")
def wait(app, worker):
    """Poll a status URL until it is no longer queued or running (the worker does the work);
    session-wide, so module fixtures that start jobs can wait too."""
    client = app.test_client()

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


@pytest.fixture(scope="session")
def upload_dataset(upload):
    return lambda client, key, data, filename="events.csv", **form: upload(
        client, "/api/v1/datasets", key, data, filename, **form
    )


@pytest.fixture(scope="session")
def trained(app, org, log_bytes, worker, upload_dataset):
    """A dataset uploaded and a model trained through the API, shared by the tests below."""
    import time

    client = app.test_client()
    key = org["api_key"]
    ds = upload_dataset(client, key, log_bytes, name="shop")
    assert ds.status_code == 202, ds.get_json()
    url = ds.headers["Location"]
    for _ in range(360):
        body = client.get(url, headers={"X-API-Key": key}).get_json()
        if body["status"] not in ("queued", "running"):
            break
        time.sleep(0.5)
    assert body["status"] == "succeeded", body
    job = client.post(
        "/api/v1/training-jobs",
        headers={"X-API-Key": key},
        json={"dataset_id": body["id"], "models": ["lightgbm", "linear"]},
    )
    assert job.status_code == 202, job.get_json()
    for _ in range(600):
        done = client.get(job.headers["Location"], headers={"X-API-Key": key}).get_json()
        if done["status"] not in ("queued", "running"):
            break
        time.sleep(0.5)
    return {"dataset": body, "job": done}


@pytest.fixture(scope="session")
def scored(app, org, log_bytes, upload, trained):
    """A bulk job over the whole log (3 partitions of at most 150 customers), finished."""
    client = app.test_client()
    r = upload(client, "/api/v1/bulk-jobs", org["api_key"], log_bytes, "nightly.csv", name="nightly")
    assert r.status_code == 202, r.get_json()
    for _ in range(600):
        body = client.get(r.headers["Location"], headers={"X-API-Key": org["api_key"]}).get_json()
        if body["status"] not in ("queued", "running"):
            break
        time.sleep(0.5)
    assert body["status"] == "succeeded", body
    return body


@pytest.fixture(scope="session")
def drift_report(app, worker):
    """The bulk job's drift report once its task has run (or as it stands after ``timeout`` s)."""
    client = app.test_client()

    def poll(job_id: str, key: str, timeout: float = 120.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            body = client.get(f"/api/v1/bulk-jobs/{job_id}/drift", headers={"X-API-Key": key}).get_json()
            if body.get("status") != "pending" or time.monotonic() > deadline:
                return body
            time.sleep(0.5)

    return poll


@pytest.fixture(scope="session")
def score_with_drift(app, upload, wait, drift_report):
    """A bulk job of the organization over ``data`` (``form``: more multipart fields, e.g. as_of),
    succeeded, and its drift report once written: (the job's answer, the report)."""
    client = app.test_client()

    def score(org: dict, data: bytes, name: str, **form) -> tuple[dict, dict]:
        started = upload(client, "/api/v1/bulk-jobs", org["api_key"], data, f"{name}.csv", name=name, **form)
        assert started.status_code == 202, started.get_json()
        job = wait(started.headers["Location"], org["api_key"])
        assert job["status"] == "succeeded", job
        report = drift_report(job["id"], org["api_key"])
        answer = client.get(f"/api/v1/bulk-jobs/{job['id']}", headers={"X-API-Key": org["api_key"]})
        return answer.get_json(), report

    return score


class WebPages:
    """The web pages through Flask's test client, signed in with an API key.

    Over https (the session cookie is Secure), with the form's page as the referrer (Flask-WTF
    wants one over https, as a browser sends it) and each form's CSRF token taken from a page."""

    HTTPS = {"base_url": "https://localhost"}
    FORM = {**HTTPS, "headers": {"Referer": "https://localhost/app/"}}

    def __init__(self, client, key: str | None = None):
        self.client = client
        if key is not None:
            self.sign_in(key)

    @staticmethod
    def token(page: bytes) -> str:
        import re

        return re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()

    def sign_in(self, key: str, next_path: str | None = None):
        token = self.token(self.get("/app/sign-in").data)
        url = "/app/sign-in" + (f"?next={next_path}" if next_path else "")
        return self.client.post(url, data={"api_key": key, "csrf_token": token}, **self.FORM)

    def get(self, path: str, **kwargs):
        return self.client.get(path, **self.HTTPS, **kwargs)

    def post(self, path: str, data: dict, form_page: str = "/app/"):
        """POST ``data`` (a file as (BytesIO, name)) with the CSRF token of ``form_page``."""
        data = {"csrf_token": self.token(self.get(form_page).data), **data}
        return self.client.post(path, data=data, content_type="multipart/form-data", **self.FORM)


@pytest.fixture
def web_pages(app):
    """A fresh signed-in test client of the pages: ``web_pages(api_key)`` (see WebPages)."""
    return lambda key=None: WebPages(app.test_client(), key)
