"""Chaos: workers killed, the broker lost and restarted, uploads while it is down. Every job ends
`succeeded` with exactly one stored prediction per customer, or `failed` with a reason: never
stuck.

These tests run their own Redis server (never the machine's shared one) without persistence, a
prefork worker (so the pool child can be killed alone, as the OOM killer does) and Celery beat,
on the machine's PostgreSQL and the moto S3 server. Heartbeats every second and a stale limit of
6 s stand in for the defaults (10 s and 60 s); the visibility timeout stays at its 4-hour
default, so no recovery here comes from Redis giving a task back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CUSTOMERS = 3000  # 10 partitions of 300


@pytest.fixture(scope="module")
def chaos_env(it_env, redis_server, tmp_path_factory):
    env = dict(it_env)
    env.update(
        REDIS_URL=redis_server.url,
        STORAGE_DIR=str(tmp_path_factory.mktemp("chaos-storage")),
        CELERY_VISIBILITY_TIMEOUT="14400",
        JOB_HEARTBEAT_S="1",
        JOB_STALE_S="6",
        RECONCILE_EVERY_S="2",
    )
    return env


@pytest.fixture(scope="module")
def chaos_app(chaos_env, it_app):  # it_app: the schema is migrated
    from celery import _state

    from hcl_server import create_app

    before = _state.default_app
    settings = {k: v for k, v in chaos_env.items() if not k.startswith("AWS")}
    app = create_app({"TESTING": True, **settings, "BULK_PARTITION_CUSTOMERS": 300})
    if before is not None:  # keep the session's app the default for the other tests
        before.set_default()
    return app


@pytest.fixture(scope="module")
def processes(chaos_env, tmp_path_factory):
    """Start worker (prefork, one child) and beat processes; all stopped at the end."""
    procs: list[subprocess.Popen] = []
    logs = tmp_path_factory.mktemp("chaos-logs")

    def start(*args: str) -> subprocess.Popen:
        log = open(logs / f"{args[0]}-{len(procs)}.log", "w")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "celery_worker", *args, "--loglevel=info"],
            cwd=ROOT,
            env={**os.environ, **chaos_env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        procs.append(proc)
        return proc

    start.logs = logs
    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def worker(processes):
    proc = processes("worker", "--pool=prefork", "--concurrency=1", "-n", f"chaos{time.monotonic_ns()}@%h")
    processes("beat", "--schedule", str(processes.logs / "beat-schedule"))
    return {"proc": proc}


def _pool_child(worker_proc: subprocess.Popen, timeout: float = 60) -> int:
    """The pid of the worker's prefork child (the process that runs tasks)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = Path(f"/proc/{worker_proc.pid}/task/{worker_proc.pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise AssertionError("the worker has no pool child")


def _wait(client, url, key, done, timeout=240.0, every=0.05) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(url, headers={"X-API-Key": key}).get_json()
        if done(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{url}: not there after {timeout} s: {body}")
        time.sleep(every)


def _finished(body: dict) -> bool:
    return body.get("status") in ("succeeded", "failed", "cancelled")


@pytest.fixture(scope="module")
def chaos_org(chaos_app):
    import json

    result = chaos_app.test_cli_runner().invoke(args=["orgs", "create", "Chaos"])
    return json.loads(result.output.strip().splitlines()[-1])


def _assert_one_prediction_per_customer(app, job_id: str, customers: int) -> None:
    from sqlalchemy import func

    from hcl_server.db import Prediction
    from hcl_server.extensions import db

    with app.app_context():
        rows, distinct = db.session.execute(
            db.select(func.count(), func.count(func.distinct(Prediction.customer_id))).where(
                Prediction.job_id == job_id
            )
        ).one()
    assert rows == distinct == customers, (rows, distinct)


@pytest.fixture(scope="module")
def chaos_trained(chaos_app, chaos_org, worker, events_csv, upload):
    """A dataset read and a model trained; the pool child is killed ~mid-training, and the
    redelivered task takes the job over (the model is then the production one)."""
    client, key = chaos_app.test_client(), chaos_org["api_key"]
    ds = upload(client, "/api/v1/datasets", key, events_csv(1200, 15000, seed=21))
    dataset = _wait(client, ds.headers["Location"], key, _finished, every=0.3)
    assert dataset["status"] == "succeeded", dataset
    r = client.post(
        "/api/v1/training-jobs",
        headers={"X-API-Key": key},
        json={"dataset_id": dataset["id"], "models": ["lightgbm", "linear"]},
    )
    url = r.headers["Location"]
    _wait(client, url, key, lambda b: b.get("stage") in ("features", "models") or _finished(b))
    os.kill(_pool_child(worker["proc"]), signal.SIGKILL)
    killed_at = time.monotonic()
    body = _wait(client, url, key, _finished, timeout=600, every=0.3)
    return {"job": body, "recovered_s": time.monotonic() - killed_at}


def test_training_survives_a_killed_pool_child(chaos_app, chaos_trained):
    job = chaos_trained["job"]
    assert job["status"] == "succeeded", job
    assert job["model_version"] == 1
    with chaos_app.app_context():
        from hcl_server.db import Job
        from hcl_server.extensions import db

        assert db.session.get(Job, job["id"]).attempts == 2  # the killed delivery and the takeover


def test_bulk_job_survives_killed_pool_children_during_split_and_scoring(
    chaos_app,
    chaos_org,
    chaos_trained,
    worker,
    events_csv,
    upload,
):
    client, key = chaos_app.test_client(), chaos_org["api_key"]
    r = upload(client, "/api/v1/bulk-jobs", key, events_csv(CUSTOMERS, 36000, seed=33))
    url = r.headers["Location"]
    split = _wait(client, url, key, lambda b: b.get("stage") == "splitting" or _finished(b), every=0.02)
    assert split["stage"] == "splitting", f"the split was not caught: {split}"
    os.kill(_pool_child(worker["proc"]), signal.SIGKILL)
    scoring = _wait(client, url, key, lambda b: b.get("progress", 0) > 0.2 or _finished(b))
    assert scoring["status"] == "running", f"finished before the second kill: {scoring}"
    os.kill(_pool_child(worker["proc"]), signal.SIGKILL)
    body = _wait(client, url, key, _finished, timeout=300, every=0.3)
    assert body["status"] == "succeeded", body
    assert body["total_customers"] == CUSTOMERS
    _assert_one_prediction_per_customer(chaos_app, body["id"], CUSTOMERS)


def test_a_killed_worker_resumes_within_a_minute_not_at_the_visibility_timeout(
    chaos_app,
    chaos_org,
    chaos_trained,
    worker,
    processes,
    events_csv,
    upload,
):
    """The whole worker is killed mid-partition: its message stays unacknowledged in Redis for
    the 4-hour visibility timeout, but the reconciler sees the partition's heartbeat stop and
    sends it again to the worker that replaces it."""
    client, key = chaos_app.test_client(), chaos_org["api_key"]
    r = upload(client, "/api/v1/bulk-jobs", key, events_csv(CUSTOMERS, 36000, seed=34))
    url = r.headers["Location"]
    _wait(client, url, key, lambda b: b.get("progress", 0) > 0.2 or _finished(b))
    child = _pool_child(worker["proc"])
    worker["proc"].kill()
    os.kill(child, signal.SIGKILL)
    worker["proc"].wait(timeout=10)
    killed_at = time.monotonic()
    mid = client.get(url, headers={"X-API-Key": key}).get_json()
    assert mid["status"] == "running", f"finished before the kill: {mid}"
    worker["proc"] = processes(
        "worker", "--pool=prefork", "--concurrency=1", "-n", f"chaos{time.monotonic_ns()}@%h"
    )
    body = _wait(client, url, key, _finished, timeout=240, every=0.3)
    recovered_s = time.monotonic() - killed_at
    assert body["status"] == "succeeded", body
    _assert_one_prediction_per_customer(chaos_app, body["id"], CUSTOMERS)
    assert recovered_s < 90, recovered_s
    print(f"killed worker: job done {recovered_s:.1f} s after the kill")


@pytest.mark.parametrize("stage", ["splitting", "scoring"])
def test_a_redis_restart_loses_the_queue_and_the_job_still_ends(
    chaos_app,
    chaos_org,
    chaos_trained,
    worker,
    redis_server,
    stage,
    events_csv,
    upload,
):
    """Redis without persistence is killed during the split or the scoring and started again
    empty: the partitions (and the split's own message) are gone from the broker; the reconciler
    sends again what is missing and every customer is stored once."""
    client, key = chaos_app.test_client(), chaos_org["api_key"]
    r = upload(client, "/api/v1/bulk-jobs", key, events_csv(CUSTOMERS, 36000, seed=35))
    url = r.headers["Location"]
    if stage == "splitting":
        caught = _wait(client, url, key, lambda b: b.get("stage") == "splitting" or _finished(b), every=0.02)
    else:
        caught = _wait(client, url, key, lambda b: b.get("progress", 0) > 0.15 or _finished(b))
    assert caught["status"] == "running", f"finished before Redis was killed: {caught}"
    redis_server.kill()
    time.sleep(3)
    redis_server.start()
    body = _wait(client, url, key, _finished, timeout=240, every=0.3)
    assert body["status"] == "succeeded", body
    _assert_one_prediction_per_customer(chaos_app, body["id"], CUSTOMERS)


def test_an_upload_while_redis_is_down_answers_503_and_leaves_no_queued_row(
    chaos_app,
    chaos_org,
    chaos_trained,
    worker,
    redis_server,
    events_csv,
    upload,
):
    client, key = chaos_app.test_client(), chaos_org["api_key"]
    redis_server.kill()
    try:
        for url in ("/api/v1/datasets", "/api/v1/bulk-jobs"):
            r = upload(client, url, key, events_csv(200, 2000, seed=36))
            assert r.status_code == 503, r.get_json()
            assert r.headers["Retry-After"] == "10"
            assert "task queue is not reachable" in r.get_json()["error"]["message"]
    finally:
        redis_server.start()
    with chaos_app.app_context():
        from hcl_server.db import Dataset, Job
        from hcl_server.extensions import db

        org_id = chaos_org["organization_id"]
        for model in (Dataset, Job):
            queued = db.session.scalar(
                db.select(db.func.count()).where(model.organization_id == org_id, model.status == "queued")
            )
            assert queued == 0


def test_one_organizations_backlog_does_not_hold_up_another(
    chaos_app, chaos_org, chaos_trained, worker, events_csv, upload
):
    """Fairness, measured: organization A's bulk job has its 10 partitions waiting in the queue
    when organization B uploads a dataset. B's first job goes out at priority 0 and A's
    partitions at 1 to 5, so B's dataset is read after at most the partition in hand and the
    next, not after A's whole backlog (in arrival order it would wait for all 10)."""
    import json

    other = json.loads(
        chaos_app.test_cli_runner().invoke(args=["orgs", "create", "Other"]).output.strip().splitlines()[-1]
    )
    client, key = chaos_app.test_client(), chaos_org["api_key"]
    r = upload(client, "/api/v1/bulk-jobs", key, events_csv(CUSTOMERS, 36000, seed=37))
    url = r.headers["Location"]
    _wait(client, url, key, lambda b: b.get("stage") == "scoring" or _finished(b), every=0.02)
    ds = upload(client, "/api/v1/datasets", other["api_key"], events_csv(200, 2000, seed=38))
    read = _wait(client, ds.headers["Location"], other["api_key"], _finished, every=0.1)
    assert read["status"] == "succeeded", read
    with chaos_app.app_context():
        from hcl_server.db import BulkPartition, Job
        from hcl_server.extensions import db

        job_id = url.rsplit("/", 1)[-1]
        done = db.session.scalar(
            db.select(db.func.count()).where(BulkPartition.job_id == job_id, BulkPartition.status == "done")
        )
        print(f"fairness: B's dataset was read when A's job had {done} of 10 partitions done")
        assert done <= 3, done
        assert db.session.get(Job, job_id).status == "running"
    body = _wait(client, url, key, _finished, timeout=240, every=0.3)
    assert body["status"] == "succeeded", body
