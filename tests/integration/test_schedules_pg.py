"""Schedules on PostgreSQL: two beats (or workers) passing at the same moment start a due
schedule once, because the fire time is claimed with a conditional UPDATE."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest


@pytest.fixture(scope="module")
def pg_app(pg_url, tmp_path_factory):
    """The app on a fresh PostgreSQL schema, the embedded broker (no worker: jobs stay queued)."""
    from flask_migrate import upgrade

    from hcl_server import create_app

    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": pg_url,
            "REDIS_URL": "",
            "S3_BUCKET": "",
            "STORAGE_DIR": str(tmp_path_factory.mktemp("schedules-storage")),
        }
    )
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        from hcl_server.extensions import db

        db.engine.dispose()


def test_two_passes_at_once_start_a_due_retrain_once(pg_app, monkeypatch):
    from hcl_server.db import Dataset, Job, Organization, Schedule
    from hcl_server.extensions import db
    from hcl_server.repositories import schedules
    from hcl_server.services.schedules import run_due, set_schedules

    with pg_app.app_context():
        org = Organization(name="Two beats")
        db.session.add(org)
        db.session.flush()
        db.session.add(
            Dataset(
                organization_id=org.id,
                name="d",
                filename="d.csv",
                storage_key="orgs/x/d.csv",
                size_bytes=1,
                status="succeeded",
            )
        )
        db.session.commit()
        org_id = org.id
        set_schedules(org_id, {"retrain": {"cron": "0 3 * * *", "timezone": "Europe/Berlin"}})
    now = datetime.now(UTC) + timedelta(days=1, minutes=1)
    start, seen, outcomes = threading.Barrier(4), threading.Barrier(4), []
    read = schedules.all_due_candidates

    def read_then_wait() -> list:
        # Every pass has seen the schedule due before any claims it: only the claim decides.
        rows = read()
        seen.wait()
        return rows

    monkeypatch.setattr(schedules, "all_due_candidates", read_then_wait)

    def one_pass() -> None:
        with pg_app.app_context():
            start.wait()
            outcomes.append(run_due(now))

    threads = [threading.Thread(target=one_pass) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(outcomes) == 4
    with pg_app.app_context():
        jobs = db.session.scalars(db.select(Job).where(Job.organization_id == org_id)).all()
        assert len(jobs) == 1 and jobs[0].params["trigger"] == "schedule"
        schedule = db.session.scalar(db.select(Schedule).where(Schedule.organization_id == org_id))
        assert schedule.last_job_id == jobs[0].id and schedule.last_error is None
    assert sum(o["started"] for o in outcomes) == 1
