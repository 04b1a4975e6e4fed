"""A request's API key and its organization's production model come from memory after the first
request, and a change made by any process (a revoked key, a promotion, new risk thresholds) is
seen by the next request (hcl_server/generation.py). The other process here is a real one: the
command line, or a Python process on the same database and storage folder."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import event

ROOT = Path(__file__).resolve().parents[2]
TX = [{"event_date": f"2024-{m:02d}-10", "amount": 30.0 + m} for m in range(1, 10)]
BODY = {"customer_id": "c-1", "as_of": "2024-10-01", "transactions": TX}


@contextmanager
def statements(app):
    """The SQL statements the app's engine runs inside the block."""
    from hcl_server.extensions import db

    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


APP_CONTEXT = "from hcl_server import create_app\napp = create_app()\nwith app.app_context():\n"


@pytest.fixture
def shop(app, make_org, org, trained, copy_versions):
    """An organization with versions 1 (production) and 2 (candidate) of the trained model."""
    new = make_org("Lookup cache shop")
    with app.app_context():
        copy_versions(org["organization_id"], new["organization_id"], 2)
    return new


def predict(client, key: str):
    return client.post("/api/v1/predict", json=BODY, headers={"X-API-Key": key})


def test_after_the_first_request_neither_the_key_nor_the_production_model_is_queried(app, shop):
    client = app.test_client()
    with statements(app) as first:
        assert predict(client, shop["api_key"]).status_code == 200
    with statements(app) as second:
        answer = predict(client, shop["api_key"])
    assert answer.status_code == 200 and answer.get_json()["model_version"] == 1
    # The counting sees the lookups when they happen, so their absence below means something.
    assert any("api_keys" in s for s in first) and any("model_versions" in s for s in first)
    assert not [s for s in second if "api_keys" in s or "model_versions" in s]


def test_a_key_revoked_by_another_process_is_refused_by_the_next_request(app, shop, service_env, run_python):
    client = app.test_client()
    made = client.post("/api/v1/api-keys", headers={"X-API-Key": shop["api_key"]})
    assert made.status_code == 201, made.get_json()
    second_key, second_id = made.get_json()["api_key"], made.get_json()["id"]
    assert predict(client, second_key).status_code == 200  # now in this process's memory

    revoked = run_python(
        service_env,
        "-m",
        "flask",
        "--app",
        "run",
        "orgs",
        "keys",
        "revoke",
        shop["organization_id"],
        second_id,
    )
    assert json.loads(revoked.strip().splitlines()[-1])["active"] is False

    refused = predict(client, second_key)
    assert refused.status_code == 401, refused.get_json()
    assert predict(client, shop["api_key"]).status_code == 200


def test_a_promotion_by_another_process_scores_with_the_new_version_at_once(
    app, shop, service_env, run_python
):
    client = app.test_client()
    key = shop["api_key"]
    assert predict(client, key).get_json()["model_version"] == 1

    run_python(
        service_env,
        "-c",
        APP_CONTEXT + "    from hcl_server.services.registry import promote\n"
        f"    promote({shop['organization_id']!r}, 2, 'test', 'promoted elsewhere')\n",
    )
    assert predict(client, key).get_json()["model_version"] == 2

    # A rollback through this process's API, and new risk thresholds, are seen as well.
    assert client.post("/api/v1/models/rollback", headers={"X-API-Key": key}, json={}).status_code == 200
    before = predict(client, key).get_json()
    assert before["model_version"] == 1 and before["risk_segment"] != "Critical"
    every_one_critical = {"medium": 0.0001, "high": 0.0002, "critical": 0.0003}
    put = client.put("/api/v1/settings/risk-thresholds", headers={"X-API-Key": key}, json=every_one_critical)
    assert put.status_code == 200, put.get_json()
    assert predict(client, key).get_json()["risk_segment"] == "Critical"
    assert client.delete("/api/v1/settings/risk-thresholds", headers={"X-API-Key": key}).status_code == 200


def test_with_caching_off_every_request_looks_both_up(app, shop):
    client = app.test_client()
    app.config["LOOKUP_CACHE_S"] = 0
    try:
        predict(client, shop["api_key"])
        with statements(app) as seen:
            assert predict(client, shop["api_key"]).status_code == 200
    finally:
        app.config["LOOKUP_CACHE_S"] = 60.0
    assert any("api_keys" in s for s in seen) and any("model_versions" in s for s in seen)
