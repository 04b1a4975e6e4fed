"""The HTTP API on the embedded defaults, with a real Celery worker process doing the work."""

from __future__ import annotations

import pytest


def test_health(client):
    assert client.get("/health").get_json() == {"status": "ok"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200, ready.get_json()


def test_requests_need_a_key(client):
    for headers in ({}, {"X-API-Key": "hcl_wrong"}):
        r = client.get("/api/v1/datasets", headers=headers)
        assert r.status_code == 401
        assert (
            r.get_json()["error"]["code"] == "unauthorized"
            and "X-API-Key" in r.get_json()["error"]["message"]
        )


def test_dataset_profile(trained):
    ds = trained["dataset"]
    assert ds["profile"]["customers"] == 401 and ds["profile"]["rows"] > 0
    assert ds["name"] == "shop" and ds["errors"] == []


def test_training_job_metrics_and_model_registry(client, org, trained):
    job = trained["job"]
    assert job["status"] == "succeeded", job
    assert job["progress"] == 1.0 and job["model_version"] == 1
    assert job["attempts"] == 1  # one delivery: no worker died running it
    churn = job["metrics"]["churn"]
    assert {"model", "baseline"} <= set(churn)
    assert set(churn["candidates"]) == {"lightgbm", "linear"}  # the job's `models` field
    assert churn["model"]["type"] in ("lightgbm", "linear")
    assert sum(r["n"] for r in churn["model"]["reliability"]) == churn["model"]["n"]  # reliability table
    key = {"X-API-Key": org["api_key"]}
    models = client.get("/api/v1/models", headers=key).get_json()["models"]
    assert models[0]["version"] == 1 and models[0]["is_production"] is True
    detail = client.get("/api/v1/models/1", headers=key).get_json()
    assert "recency_days" in detail["details"]["features"]
    assert client.post("/api/v1/models/1/promote", headers=key).get_json()["is_production"] is True
    assert client.get("/api/v1/models/99", headers=key).status_code == 404


def test_other_organizations_see_nothing(client, make_org, org, trained):
    other = {"X-API-Key": make_org("Other")["api_key"]}
    assert client.get(f"/api/v1/datasets/{trained['dataset']['id']}", headers=other).status_code == 404
    assert client.get(f"/api/v1/training-jobs/{trained['job']['id']}", headers=other).status_code == 404
    assert client.get("/api/v1/models/1", headers=other).status_code == 404
    assert client.post("/api/v1/models/1/promote", headers=other).status_code == 404
    assert client.get("/api/v1/datasets", headers=other).get_json()["datasets"] == []
    assert client.get("/api/v1/models", headers=other).get_json()["models"] == []
    r = client.post("/api/v1/training-jobs", headers=other, json={"dataset_id": trained["dataset"]["id"]})
    assert r.status_code == 404


@pytest.mark.parametrize(
    "filename,data,status,message",
    [
        ("events.csv", b"", 400, "the file is empty"),
        ("events.exe", b"MZ\x90\x00", 415, "unsupported file type"),
    ],
)
def test_bad_uploads_answer_4xx(upload_dataset, client, org, filename, data, status, message):
    r = upload_dataset(client, org["api_key"], data, filename)
    assert r.status_code == status and message in r.get_json()["error"]["message"]


def test_missing_file_and_bad_mapping(upload_dataset, client, org, log_bytes):
    r = client.post("/api/v1/datasets", headers={"X-API-Key": org["api_key"]}, data={})
    assert r.status_code == 422 and "file" in r.get_json()["error"]["details"]["multipart"]
    r = upload_dataset(client, org["api_key"], log_bytes, column_mapping="{not json")
    assert r.status_code == 422 and "column_mapping: not valid JSON" in r.get_json()["error"]["message"]


@pytest.mark.parametrize(
    "filename,data,message",
    [
        ("events.xlsx", b"customer_id,event_date\nA,2020-01-01\n", "the name says an Excel .xlsx workbook"),
        ("events.csv", b"who,when\nA,2020-01-01\n", "no customer id column"),
        (
            "events.csv",
            b"customer_id,event_date\n" + b"A,someday\n" * 5,
            "cannot read 'someday' (row 2) as a date",
        ),
        ("events.csv", bytes(range(256)) * 4, "binary file"),
    ],
)
def test_unreadable_files_become_failed_datasets(upload_dataset, client, org, wait, filename, data, message):
    r = upload_dataset(client, org["api_key"], data, filename)
    assert r.status_code == 202
    body = wait(r.headers["Location"], org["api_key"])
    assert body["status"] == "failed" and message in body["errors"][0], body


def test_training_request_validation(client, org, trained):
    key = {"X-API-Key": org["api_key"]}
    r = client.post(
        "/api/v1/training-jobs", headers=key, json={"dataset_id": trained["dataset"]["id"], "horizon_days": 0}
    )
    assert r.status_code == 422 and "horizon_days" in r.get_json()["error"]["details"]["json"]
    r = client.post(
        "/api/v1/training-jobs",
        headers=key,
        json={"dataset_id": trained["dataset"]["id"], "models": ["catboost"]},
    )
    assert r.status_code == 422 and "models" in r.get_json()["error"]["details"]["json"]
    r = client.post("/api/v1/training-jobs", headers=key, json={"dataset_id": "nope"})
    assert r.status_code == 404 and r.get_json()["error"]["message"] == "dataset nope not found"


def test_upload_over_the_limit_is_413(upload_dataset, app, org, log_bytes):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    try:
        r = upload_dataset(app.test_client(), org["api_key"], log_bytes)
    finally:
        app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_UPLOAD_MB"] * 1024 * 1024
    assert r.status_code == 413 and "larger than the limit" in r.get_json()["error"]["message"]


def test_openapi_document_and_docs(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/training-jobs" in spec["paths"] and "ApiKey" in spec["components"]["securitySchemes"]
    assert client.get("/docs").status_code == 200


def test_one_alembic_head():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from config import BASE_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(BASE_DIR / "migrations"))
    assert len(ScriptDirectory.from_config(cfg).get_heads()) == 1


def test_predict_one_and_batch(client, org, trained):
    key = {"X-API-Key": org["api_key"]}
    tx = [
        {"event_date": "2024-10-01", "amount": 30.5, "category": "GROCERY"},
        {"event_date": "2024-11-20", "amount": 12, "event_type": "purchase"},
        {"event_date": "2024-11-25", "amount": 0, "event_type": "login"},
    ]
    r = client.post(
        "/api/v1/predict",
        headers=key,
        json={"customer_id": "=cmd", "transactions": tx, "as_of": "2024-12-01"},
    )
    assert r.status_code == 200, r.get_json()
    one = r.get_json()
    assert one["customer_id"] == "=cmd" and 0 <= one["churn_probability"] <= 1
    assert one["risk_segment"] in ("Low", "Medium", "High", "Critical") and one["model_version"] == 1
    assert "total" in one["predicted_spend"] and len(one["predicted_spend"]) > 1
    lapsed = {
        "customer_id": "old",
        "transactions": [{"event_date": "2024-01-05", "amount": 10}],
        "as_of": "2024-12-01",
    }
    batch = client.post(
        "/api/v1/predict/batch",
        headers=key,
        json={"customers": [{"customer_id": "=cmd", "transactions": tx, "as_of": "2024-12-01"}, lapsed]},
    )
    assert batch.status_code == 200, batch.get_json()
    preds = batch.get_json()["predictions"]
    assert [p["customer_id"] for p in preds] == ["=cmd", "old"]
    assert preds[0] == one  # a customer scores the same alone or in a batch
    assert preds[1]["churn_probability"] > preds[0]["churn_probability"]
    # Reasons are texts with the customer's own numbers: 331 days since the one purchase.
    assert all(isinstance(p["reasons"], list) and len(p["reasons"]) <= 3 for p in preds)
    assert any("331 days" in text for text in preds[1]["reasons"]), preds[1]["reasons"]


def test_predict_bad_requests(client, org, make_org, trained):
    key = {"X-API-Key": org["api_key"]}
    r = client.post("/api/v1/predict", headers=key, json={"customer_id": "a", "transactions": []})
    assert r.status_code == 422 and "transactions" in r.get_json()["error"]["details"]["json"]
    r = client.post(
        "/api/v1/predict",
        headers=key,
        json={"customer_id": "a", "as_of": "2024-01-01", "transactions": [{"event_date": "2024-05-01"}]},
    )
    assert r.status_code == 422 and "after the as-of date" in r.get_json()["error"]["message"]
    r = client.post(
        "/api/v1/predict",
        headers=key,
        json={"customer_id": "a", "transactions": [{"event_date": "not a date"}]},
    )
    assert (
        r.status_code == 422
        and "event_date 'not a date' is not an ISO date" in r.get_json()["error"]["message"]
    )
    fresh = {"X-API-Key": make_org("No model yet")["api_key"]}
    r = client.post(
        "/api/v1/predict",
        headers=fresh,
        json={"customer_id": "a", "transactions": [{"event_date": "2024-05-01"}]},
    )
    assert r.status_code == 409 and "no production model" in r.get_json()["error"]["message"]


def test_the_migrations_build_the_tables_the_code_declares(app):
    """`flask db upgrade` gives exactly the models' schema: no column added without a migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from hcl_server.extensions import db

    with app.app_context(), db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), db.metadata) == []


def test_a_write_waits_for_another_process_holding_the_sqlite_lock(app, org, service_env):
    """On the embedded SQLite database a partition storing 100,000 predictions holds the write lock
    for seconds; another worker's write waits for it instead of failing with "database is locked"
    after the driver's default 5 s (which left a bulk job running forever)."""
    import sqlite3
    import threading
    import time

    from hcl_server.db import Job
    from hcl_server.extensions import db

    path = service_env["DATABASE_URL"][len("sqlite:///") :]
    locked = threading.Event()

    def hold_the_lock() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process's write transaction
        locked.set()
        time.sleep(6)
        other.execute("COMMIT")
        other.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    locked.wait(5)
    started = time.monotonic()
    with app.app_context():
        db.session.add(Job(organization_id=org["organization_id"], kind="training"))
        db.session.commit()
    holder.join()
    assert time.monotonic() - started > 5  # it waited for the lock, then wrote


def test_a_task_knows_when_redis_redelivered_it():
    from types import SimpleNamespace

    from hcl_server.tasks.bulk import redelivered

    def task(info):
        return SimpleNamespace(request=SimpleNamespace(delivery_info=info))

    assert redelivered(task({"redelivered": True, "routing_key": "celery"}))
    assert not redelivered(task({"routing_key": "celery"}))
    assert not redelivered(task(None))  # called directly, not through a broker
