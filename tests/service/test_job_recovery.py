"""Every job ends: claims, heartbeats, redelivery, the reconciler, cancel and the per-organization
limit, on the embedded defaults (SQLite, the file broker).

The reconciler runs in a subprocess (`flask jobs reconcile`) with a broker folder of its own, so
the session's worker does not take the messages it sends and the test can read them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from hcl_server.celery_app import _task_of
from hcl_server.db import BulkPartition, Dataset, Job
from hcl_server.db.models import utcnow
from hcl_server.extensions import db

ROOT = Path(__file__).resolve().parents[2]
LONG_AGO = timedelta(hours=1)


def _add(row):
    db.session.add(row)
    db.session.commit()
    return row


def _reconcile(service_env, tmp_path) -> tuple[dict, set]:
    """Run one reconciler pass against the session's database with its own broker folder: (what
    it reports it sent, the (task, args) of the messages in its queue)."""
    storage = tmp_path / "reconciler-storage"
    env = {**os.environ, **service_env, "STORAGE_DIR": str(storage), "JOB_STALE_S": "60"}
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "run", "jobs", "reconcile"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    sent = json.loads(done.stdout.strip().splitlines()[-1])
    queued = {_task_of(p.read_bytes()) for p in (storage / "broker" / "queue").glob("*.msg")}
    return sent, queued


def test_a_claim_takes_over_only_a_row_whose_heartbeat_stopped(app, org):
    """A live delivery keeps its row; a row whose heartbeat is older than JOB_STALE_S is taken over
    and the attempt counted; a finished row is never claimed."""
    from hcl_server.services.jobs import claim

    with app.app_context():
        job = _add(Job(organization_id=org["organization_id"], kind="training"))
        assert claim(Job, job.id) == 1
        assert claim(Job, job.id) is None  # running and beating: another delivery must not touch it
        job.heartbeat_at = utcnow() - LONG_AGO
        db.session.commit()
        assert claim(Job, job.id) == 2
        job.status, job.heartbeat_at = "succeeded", utcnow() - LONG_AGO
        db.session.commit()
        assert claim(Job, job.id) is None


def test_a_redelivered_task_takes_over_after_two_missed_beats_but_not_from_a_live_worker(
    app, org, monkeypatch
):
    """kill -9 of a prefork child: the broker hands its task back at once, marked redelivered. The
    new delivery takes the row over as soon as two heartbeats are missed; while the old delivery
    still beats, the redelivery gives up and leaves it alone."""
    from hcl_server.services.heartbeat import Heartbeat
    from hcl_server.services.jobs import claim

    monkeypatch.setitem(app.config, "JOB_HEARTBEAT_S", 0.5)
    with app.app_context():
        dead = _add(Job(organization_id=org["organization_id"], kind="training"))
        assert claim(Job, dead.id) == 1  # its worker is killed right after: no more beats
        started = time.monotonic()
        assert claim(Job, dead.id, redelivered=True) == 2
        assert time.monotonic() - started < 5

        alive = _add(Job(organization_id=org["organization_id"], kind="training"))
        assert claim(Job, alive.id) == 1
        beat = Heartbeat(Job, Job.id == alive.id, Job.attempts == 1, every_s=0.2)
        with beat:
            assert claim(Job, alive.id, redelivered=True) is None
        assert db.session.get(Job, alive.id).attempts == 1


def test_a_job_that_kills_every_worker_is_failed_after_three_attempts(app, org):
    """A native crash or an out-of-memory kill takes the worker down on every delivery: the third
    dead worker ends the job with the reason instead of a fourth try."""
    from hcl_server.services.jobs import MAX_ATTEMPTS, claim

    with app.app_context():
        job = _add(Job(organization_id=org["organization_id"], kind="training"))
        for attempt in range(1, MAX_ATTEMPTS + 1):
            assert claim(Job, job.id) == attempt
            job = db.session.get(Job, job.id)
            job.stage, job.heartbeat_at = "models", utcnow() - LONG_AGO  # its worker died
            db.session.commit()
        assert claim(Job, job.id) is None
        job = db.session.get(Job, job.id)
        assert job.status == "failed" and job.finished_at is not None
        assert f"stopped unexpectedly {MAX_ATTEMPTS} times (last stage: models)" in job.error


def test_a_partition_that_kills_every_worker_fails_its_bulk_job(app, org):
    """Each delivery of a partition counts an attempt; when the third worker that took it died
    too, the next delivery fails the bulk job with the reason instead of a fourth try."""
    import hcl_server.tasks.bulk as bulk
    from hcl_server.services.jobs import MAX_ATTEMPTS

    with app.app_context():
        job = _add(Job(organization_id=org["organization_id"], kind="bulk", status="running"))
        part = BulkPartition(
            job_id=job.id,
            index=0,
            status="running",
            attempts=MAX_ATTEMPTS,
            heartbeat_at=utcnow() - LONG_AGO,
        )
        _add(part)
        bulk.score_partition(job.id, 0)
        db.session.expire_all()  # the task ran in its own app context and session
        job = db.session.get(Job, job.id)
        assert job.status == "failed"
        assert job.error.startswith(
            f"partition 0: the worker scoring it stopped unexpectedly {MAX_ATTEMPTS} times"
        )


def test_a_step_stops_at_its_next_progress_report_once_its_job_is_cancelled(app, org):
    """The heartbeat notices the cancel (its UPDATE matches no running row) and the next progress
    report raises Stopped; the job stays cancelled."""
    from hcl_server.services.heartbeat import Stopped
    from hcl_server.services.jobs import ProgressWriter, cancel_job, claim, heartbeat_for

    with app.app_context():
        job = _add(Job(organization_id=org["organization_id"], kind="training"))
        attempt = claim(Job, job.id)
        job = db.session.get(Job, job.id)
        beat = heartbeat_for(job, attempt)
        beat.every_s = 0.1
        with beat:
            progress = ProgressWriter(job.id)
            progress("features", 0.1)
            cancel_job(job.id, "training job")
            time.sleep(0.5)
            with pytest.raises(Stopped):
                progress("features", 0.2)
        assert db.session.get(Job, job.id).status == "cancelled"


def test_the_reconciler_sends_again_what_was_lost_and_only_that(app, org, service_env, tmp_path):
    """Lost messages (a queued dataset, a pending partition), dead workers (a running dataset, a
    running partition whose heartbeat stopped) and a merge never sent are each sent once; work
    whose message still waits, or whose worker beats, is left alone."""
    org_id = org["organization_id"]
    old = utcnow() - LONG_AGO
    with app.app_context():
        lost = _add(Dataset(organization_id=org_id, name="x", filename="x", storage_key="x", size_bytes=1))
        lost.updated_at = old
        dead = _add(
            Dataset(
                organization_id=org_id,
                name="y",
                filename="y",
                storage_key="y",
                size_bytes=1,
                status="running",
                heartbeat_at=old,
            )
        )
        fresh = _add(Dataset(organization_id=org_id, name="z", filename="z", storage_key="z", size_bytes=1))
        scoring = _add(Job(organization_id=org_id, kind="bulk", status="running", stage="scoring"))
        for index, (status, beat) in enumerate([("pending", old), ("running", old), ("running", utcnow())]):
            db.session.add(
                BulkPartition(job_id=scoring.id, index=index, status=status, heartbeat_at=beat, attempts=1)
            )
        merging = _add(Job(organization_id=org_id, kind="bulk", status="running", stage="scoring"))
        db.session.add(BulkPartition(job_id=merging.id, index=0, status="done", heartbeat_at=old))
        db.session.commit()
        ids = lost.id, dead.id, fresh.id, scoring.id, merging.id
    try:
        sent, queued = _reconcile(service_env, tmp_path)
        assert ("hcl.datasets.profile", (ids[0],)) in queued
        assert ("hcl.datasets.profile", (ids[1],)) in queued
        assert (
            "hcl.datasets.profile",
            (ids[2],),
        ) not in queued  # queued a moment ago: its message may be on the way
        assert ("hcl.bulk.partition", (ids[3], 0)) in queued
        assert ("hcl.bulk.partition", (ids[3], 1)) in queued
        assert ("hcl.bulk.partition", (ids[3], 2)) not in queued  # its worker is alive
        assert ("hcl.bulk.merge", (ids[4],)) in queued
        assert sent["merge_triggered"] == 1
        with app.app_context():
            assert db.session.get(Job, ids[4]).stage == "merging"
            running = db.session.scalar(
                db.select(BulkPartition).where(BulkPartition.job_id == ids[3], BulkPartition.index == 1)
            )
            assert running.heartbeat_at.replace(tzinfo=None) == old.replace(
                tzinfo=None
            )  # taken over by its staleness

        again, queued_again = _reconcile(service_env, tmp_path)  # the messages now wait in the queue
        assert {k: v for k, v in again.items() if k != "hcl.bulk.merge"} == {}, again
        assert queued_again == queued
    finally:
        with app.app_context():
            db.session.execute(db.update(Dataset).where(Dataset.id.in_(ids[:3])).values(status="failed"))
            db.session.execute(db.update(Job).where(Job.id.in_(ids[3:])).values(status="failed"))
            db.session.commit()


def test_an_organization_at_its_job_limit_gets_429_with_retry_after(app, client, make_org, upload, log_bytes):
    """Above ORG_MAX_ACTIVE_JOBS queued and running jobs and datasets a new upload or training
    request answers 429 with Retry-After; another organization is not affected."""
    busy, other = make_org("Busy"), make_org("Other")
    limit = app.config["ORG_MAX_ACTIVE_JOBS"]
    with app.app_context():
        rows = [
            Dataset(
                organization_id=busy["organization_id"], name="q", filename="q", storage_key="q", size_bytes=1
            )
            for _ in range(limit)
        ]
        db.session.add_all(rows)
        db.session.commit()
        ids = [r.id for r in rows]
    try:
        r = upload(client, "/api/v1/datasets", busy["api_key"], log_bytes)
        assert r.status_code == 429, r.get_json()
        assert r.headers["Retry-After"] == "30"
        error = r.get_json()["error"]
        assert error["details"] == {"active": limit, "limit": limit}
        assert f"the limit is {limit}" in error["message"]
        r = client.post(
            "/api/v1/training-jobs", headers={"X-API-Key": busy["api_key"]}, json={"dataset_id": ids[0]}
        )
        assert r.status_code in (409, 429)  # the dataset is not read yet; either answer refuses it
        assert upload(client, "/api/v1/datasets", other["api_key"], log_bytes).status_code == 202
    finally:
        with app.app_context():
            db.session.execute(db.update(Dataset).where(Dataset.id.in_(ids)).values(status="failed"))
            db.session.commit()
        assert upload(client, "/api/v1/datasets", busy["api_key"], log_bytes).status_code == 202


def test_a_training_job_can_be_cancelled_and_registers_no_version(
    app, client, org, trained, wait, upload_dataset, log_bytes
):
    """POST /training-jobs/{id}/cancel: a running training job stops at its next progress report,
    stays cancelled and adds no model version; cancelling it again is a conflict."""
    headers = {"X-API-Key": org["api_key"]}
    versions = len(client.get("/api/v1/models", headers=headers).get_json()["models"])
    r = client.post(
        "/api/v1/training-jobs",
        headers=headers,
        json={"dataset_id": trained["dataset"]["id"], "models": ["lightgbm", "linear"]},
    )
    url = r.headers["Location"]
    deadline = time.monotonic() + 120
    while client.get(url, headers=headers).get_json()["status"] == "queued":
        assert time.monotonic() < deadline, "the training job never started"
        time.sleep(0.2)
    cancelled = client.post(f"{url}/cancel", headers=headers)
    assert cancelled.status_code == 200, cancelled.get_json()
    assert cancelled.get_json()["status"] == "cancelled"
    # The single worker takes tasks in order: once this dataset is read, the training task has ended.
    after = upload_dataset(client, org["api_key"], log_bytes)
    assert wait(after.headers["Location"], org["api_key"])["status"] == "succeeded"
    body = client.get(url, headers=headers).get_json()
    assert body["status"] == "cancelled" and body["model_version"] is None, body
    assert len(client.get("/api/v1/models", headers=headers).get_json()["models"]) == versions
    again = client.post(f"{url}/cancel", headers=headers)
    assert again.status_code == 409 and "already cancelled" in again.get_json()["error"]["message"]
