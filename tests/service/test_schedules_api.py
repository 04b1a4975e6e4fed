"""Schedules (GET/PUT /api/v1/settings/schedules) and the pass that runs them (run_due, called by
Celery beat), with an injected ``now``; the jobs it starts run on the real worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

URL = "/api/v1/settings/schedules"
DAILY = {"cron": "0 3 * * *", "timezone": "Europe/Berlin"}
BERLIN = ZoneInfo("Europe/Berlin")


def headers(org: dict) -> dict:
    return {"X-API-Key": org["api_key"]}


def next_3am_berlin(now: datetime) -> datetime:
    """The next 03:00 in Berlin after ``now``, in UTC, computed without cron."""
    local = now.astimezone(BERLIN)
    day = (
        local.date()
        if local.time() < datetime.min.time().replace(hour=3)
        else local.date() + timedelta(days=1)
    )
    return datetime(day.year, day.month, day.day, 3, tzinfo=BERLIN).astimezone(UTC)


def run_due(app, now: datetime):
    from hcl_server.services.schedules import run_due

    with app.app_context():
        return run_due(now)


def training_jobs(client, org: dict) -> list[dict]:
    body = client.get("/api/v1/training-jobs?limit=100", headers=headers(org)).get_json()
    return body["training_jobs"]


def cancel_all(client, org: dict) -> None:
    """Free the shared worker: the scheduled trainings are only counted here."""
    for job in training_jobs(client, org):
        if job["status"] in ("queued", "running"):
            client.post(f"/api/v1/training-jobs/{job['id']}/cancel", headers=headers(org))


def move_last_due_back(app, org: dict, kind: str, days: int) -> None:
    from hcl_server.db import Schedule
    from hcl_server.extensions import db

    with app.app_context():
        db.session.execute(
            db.update(Schedule)
            .where(Schedule.organization_id == org["organization_id"], Schedule.kind == kind)
            .values(last_due_at=datetime.now(UTC) - timedelta(days=days))
        )
        db.session.commit()


@pytest.fixture(scope="module")
def dataset_org(app, make_org, log_bytes, upload_dataset, wait):
    """An organization with one dataset read (no model)."""
    org = make_org("Scheduled retrains")
    client = app.test_client()
    r = upload_dataset(client, org["api_key"], log_bytes, name="nightly")
    assert r.status_code == 202, r.get_json()
    assert wait(r.headers["Location"], org["api_key"])["status"] == "succeeded"
    return org


def test_put_then_get_shows_the_schedules_with_their_next_run(client, make_org):
    org, other = make_org("Schedules"), make_org("Someone else")
    assert client.get(URL, headers=headers(org)).get_json() == {"retrain": None, "rescore": None}
    before = datetime.now(UTC)
    r = client.put(
        URL, headers=headers(org), json={"retrain": DAILY, "rescore": {**DAILY, "cron": "30 3 * * 1"}}
    )
    assert r.status_code == 200, r.get_json()
    body = client.get(URL, headers=headers(org)).get_json()
    assert body == r.get_json()
    retrain = body["retrain"]
    assert retrain["cron"] == "0 3 * * *" and retrain["timezone"] == "Europe/Berlin"
    assert datetime.fromisoformat(retrain["next_run_at"]) == next_3am_berlin(before)
    assert retrain["next_run_at"].endswith("+00:00")
    assert retrain["last_run_at"] is None and retrain["last_job_id"] is None and retrain["last_error"] is None
    monday = datetime.fromisoformat(body["rescore"]["next_run_at"]).astimezone(BERLIN)
    assert (monday.weekday(), monday.hour, monday.minute) == (0, 3, 30)
    # Another organization sees none of them.
    assert client.get(URL, headers=headers(other)).get_json() == {"retrain": None, "rescore": None}
    # A kind left out stays; null removes one.
    r = client.put(URL, headers=headers(org), json={"rescore": None})
    assert r.status_code == 200 and r.get_json()["rescore"] is None
    assert r.get_json()["retrain"]["cron"] == "0 3 * * *"
    assert client.put(URL, headers=headers(org), json={"retrain": None}).get_json() == {
        "retrain": None,
        "rescore": None,
    }


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"retrain": {"cron": "0 3 * *", "timezone": "UTC"}}, ("retrain", "cron")),
        ({"retrain": {"cron": "61 3 * * *", "timezone": "UTC"}}, ("retrain", "cron")),
        ({"rescore": {"cron": "0 3 * * *", "timezone": "Mars/Olympus"}}, ("rescore", "timezone")),
        ({"rescore": {"cron": "0 3 * * *", "timezone": "../../etc/passwd"}}, ("rescore", "timezone")),
        ({"rescore": {"cron": "0 3 * * *"}}, ("rescore", "timezone")),
        ({"weekly": DAILY}, ("weekly",)),
    ],
)
def test_a_bad_cron_timezone_or_kind_answers_422_naming_the_field(client, make_org, body, path):
    org = make_org("Bad schedules")
    r = client.put(URL, headers=headers(org), json=body)
    assert r.status_code == 422, r.get_json()
    details = r.get_json()["error"]["details"]["json"]
    for part in path:
        details = details[part]
    assert details
    assert client.get(URL, headers=headers(org)).get_json() == {"retrain": None, "rescore": None}


def test_the_service_refuses_what_the_api_refuses(app, org):
    from hcl_server.errors import Unprocessable
    from hcl_server.services.schedules import set_schedules

    with app.app_context(), pytest.raises(Unprocessable) as caught:
        set_schedules(
            org["organization_id"], {"retrain": {"cron": "bad", "timezone": "Nowhere/Land"}, "x": None}
        )
    assert set(caught.value.details["json"]) == {"retrain", "x"}
    assert set(caught.value.details["json"]["retrain"]) == {"cron", "timezone"}


def test_a_due_retrain_starts_one_training_job_and_only_once(app, client, dataset_org):
    key = headers(dataset_org)
    assert client.put(URL, headers=key, json={"retrain": DAILY}).status_code == 200
    try:
        # Due times before the schedule was set never fire.
        run_due(app, datetime.now(UTC))
        assert training_jobs(client, dataset_org) == []
        later = datetime.now(UTC) + timedelta(days=1, minutes=1)
        run_due(app, later)
        jobs = training_jobs(client, dataset_org)
        assert len(jobs) == 1, jobs
        assert jobs[0]["params"]["trigger"] == "schedule"
        shown = client.get(URL, headers=key).get_json()["retrain"]
        assert shown["last_job_id"] == jobs[0]["id"] and shown["last_error"] is None
        assert datetime.fromisoformat(shown["last_run_at"]) == next_3am_berlin(
            later - timedelta(days=1, minutes=1)
        )
        # The same pass again (a second beat, a redelivered message): nothing more.
        run_due(app, later)
        assert len(training_jobs(client, dataset_org)) == 1
    finally:
        client.put(URL, headers=key, json={"retrain": None})
        cancel_all(client, dataset_org)


def test_fire_times_missed_in_an_outage_give_one_run(app, client, dataset_org):
    key = headers(dataset_org)
    assert client.put(URL, headers=key, json={"retrain": DAILY}).status_code == 200
    try:
        before = len(training_jobs(client, dataset_org))
        move_last_due_back(app, dataset_org, "retrain", days=5)  # five 03:00s missed
        outcome = run_due(app, datetime.now(UTC))
        assert outcome["started"] >= 1
        assert len(training_jobs(client, dataset_org)) == before + 1
        run_due(app, datetime.now(UTC))
        assert len(training_jobs(client, dataset_org)) == before + 1
    finally:
        client.put(URL, headers=key, json={"retrain": None})
        cancel_all(client, dataset_org)


def _organization_sorted_first(app) -> dict:
    """An organization whose id sorts before every generated one (uuid4 text), with a key."""
    import secrets

    from hcl_server.db import Organization
    from hcl_server.extensions import db
    from hcl_server.services.orgs import create_api_key

    org_id = f"00000000-0000-0000-0000-{secrets.token_hex(6)}"
    with app.app_context():
        db.session.add(Organization(id=org_id, name="No dataset yet"))
        db.session.commit()
        key = create_api_key(org_id).api_key
    return {"organization_id": org_id, "api_key": key}


def test_an_organization_without_a_dataset_does_not_stop_the_next(app, client, dataset_org):
    # Schedules are run in organization id order: the failing one is made to come first.
    empty = _organization_sorted_first(app)
    assert empty["organization_id"] < dataset_org["organization_id"]
    for org in (empty, dataset_org):
        assert client.put(URL, headers=headers(org), json={"retrain": DAILY}).status_code == 200
    try:
        before = len(training_jobs(client, dataset_org))
        run_due(app, datetime.now(UTC) + timedelta(days=1, minutes=1))
        failed = client.get(URL, headers=headers(empty)).get_json()["retrain"]
        assert failed["last_job_id"] is None and "no dataset" in failed["last_error"], failed
        assert failed["last_run_at"] is not None
        assert len(training_jobs(client, dataset_org)) == before + 1
        assert client.get(URL, headers=headers(dataset_org)).get_json()["retrain"]["last_error"] is None
    finally:
        for org in (empty, dataset_org):
            client.put(URL, headers=headers(org), json={"retrain": None})
        cancel_all(client, dataset_org)


def test_a_due_rescore_scores_the_latest_file_again_with_the_production_model(
    app, client, org, trained, log_bytes, upload, wait
):
    key = headers(org)
    first = upload(client, "/api/v1/bulk-jobs", org["api_key"], log_bytes, name="weekly file")
    assert first.status_code == 202, first.get_json()
    original = wait(first.headers["Location"], org["api_key"])
    assert original["status"] == "succeeded", original
    assert client.put(URL, headers=key, json={"rescore": DAILY}).status_code == 200
    try:
        run_due(app, datetime.now(UTC) + timedelta(days=1, minutes=1))
        shown = client.get(URL, headers=key).get_json()["rescore"]
        assert shown["last_error"] is None and shown["last_job_id"] not in (None, original["id"]), shown
        again = wait(f"/api/v1/bulk-jobs/{shown['last_job_id']}", org["api_key"])
        assert again["status"] == "succeeded", again
        assert again["name"] == "weekly file (scheduled)"
        assert (
            again["model_version"]
            == client.get("/api/v1/settings/risk-thresholds", headers=key).get_json()["model_version"]
        )
        assert again["summary"] == original["summary"]
    finally:
        client.put(URL, headers=key, json={"rescore": None})


def test_beat_runs_the_schedules_every_schedules_every_s(app):
    from hcl_server import create_app

    entry = app.extensions["celery"].conf.beat_schedule["schedules"]
    assert entry["task"] == "hcl.schedules.run_due" and entry["schedule"] == 60.0
    other = create_app({"SCHEDULES_EVERY_S": 7})
    entry = other.extensions["celery"].conf.beat_schedule["schedules"]
    assert entry["schedule"] == 7.0 and entry["options"]["expires"] == 7.0
    assert "hcl_server.tasks.schedules" in other.extensions["celery"].conf.include
    app.extensions["celery"].set_default()  # create_app made the other one the default
