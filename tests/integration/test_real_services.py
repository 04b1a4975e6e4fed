"""End to end on PostgreSQL, Redis, an S3 server and real worker processes."""

from __future__ import annotations

import io
import json

import boto3
import pandas as pd
import pytest

pytestmark = pytest.mark.integration


def test_ready_checks_the_real_services(it_app):
    r = it_app.test_client().get("/health/ready")
    assert r.status_code == 200 and r.get_json()["checks"] == {
        "database": "ok",
        "broker": "ok",
        "storage": "ok",
    }


def test_ready_names_the_failed_part(it_env):
    from hcl_server import create_app

    app = create_app(
        {
            "TESTING": True,
            **{k: v for k, v in it_env.items() if not k.startswith("AWS")},
            "S3_BUCKET": "no-such-bucket",
        }
    )
    r = app.test_client().get("/health/ready")
    assert r.status_code == 503 and r.get_json()["error"]["details"]["failed"] == "storage"


def test_reading_options_are_stored_in_postgres_and_used(it_app, it_org, worker, poll):
    """A dataset's reading options in the JSON column of migration b3bbdbe158ec, used by the worker."""
    client, key = it_app.test_client(), it_org["api_key"]
    data = b"Kunde;event_date;amount\na;2023-01-05;1.250\nb;2023-01-06;2.500\nc;someday;1\n"
    form = {"column_mapping": json.dumps({"customer_id": "Kunde"}), "decimal": "comma", "max_bad_rows": "0.5"}
    r = client.post(
        "/api/v1/datasets",
        headers={"X-API-Key": key},
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(data), "export.csv"), **form},
    )
    body = poll(client, r.headers["Location"], key)
    assert body["status"] == "succeeded", body
    assert body["read_options"] == {
        "column_mapping": {"customer_id": "Kunde"},
        "decimal": "comma",
        "max_bad_rows": 0.5,
    }
    assert body["profile"]["amount_total"] == 3750 and body["profile"]["rows_dropped"] == 1


def test_training_stores_the_bundle_in_s3_and_the_version_in_postgres(it_app, it_org, it_env, trained):
    assert trained["job"]["model_version"] == 1
    s3 = boto3.client("s3", endpoint_url=it_env["S3_ENDPOINT_URL"])
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="hcl-it")["Contents"]]
    meta_key = next(k for k in keys if k.endswith("/metadata.json") and "/models/v1-" in k)
    churn = json.loads(s3.get_object(Bucket="hcl-it", Key=meta_key)["Body"].read())["targets"]["churn"]
    if churn["selected"] != "baseline":  # the chosen model type's own file sits beside the metadata
        assert meta_key.rsplit("/", 1)[0] + "/" + churn["file"] in keys
    with it_app.app_context():
        from hcl_server.db import ModelVersion
        from hcl_server.extensions import db

        assert db.engine.dialect.name == "postgresql"
        assert db.session.scalar(db.select(ModelVersion.is_production).where(ModelVersion.version == 1))


def test_bulk_job_and_predict_end_to_end(it_app, it_org, trained, poll, events_csv, upload):
    client, key = it_app.test_client(), it_org["api_key"]
    r = upload(client, "/api/v1/bulk-jobs", key, events_csv(1200, 15000, seed=21))
    body = poll(client, r.headers["Location"], key)
    assert body["status"] == "succeeded" and body["total_customers"] == 1200, body
    page = client.get(f"/api/v1/bulk-jobs/{body['id']}/predictions", headers={"X-API-Key": key}).get_json()
    assert page["total"] == 1200
    # reasons are stored as JSON lists in PostgreSQL (migration 448a999dfebf)
    assert all(isinstance(p["reasons"], list) and len(p["reasons"]) <= 3 for p in page["predictions"])
    assert any(p["reasons"] for p in page["predictions"])
    csv = client.get(f"/api/v1/bulk-jobs/{body['id']}/download", headers={"X-API-Key": key})
    assert len(pd.read_csv(io.BytesIO(csv.data))) == 1200
    one = client.post(
        "/api/v1/predict",
        headers={"X-API-Key": key},
        json={
            "customer_id": "x",
            "as_of": "2025-01-01",
            "transactions": [{"event_date": "2024-12-01", "amount": 20}],
        },
    )
    assert one.status_code == 200 and one.get_json()["model_version"] == 1
    _drift_of_the_job(it_app, client, key, body["id"], poll)
    _dashboard_shows_the_job(client, key, body)


def _drift_of_the_job(it_app, client, key: str, job_id: str, poll) -> None:
    """Issue 15 item 3 on PostgreSQL and Redis: every partition's counts in its JSON column, the
    drift task run by a real worker, the report and the organization's thresholds read back."""
    report = poll(client, f"/api/v1/bulk-jobs/{job_id}/drift", key, done=lambda b: b["status"] != "pending")
    assert report["status"] == "done" and report["rows"] == 1200 and report["error"] is None, report
    assert report["features"] and set(report["predictions"]) == {"churn_probability", "spend_total"}
    assert report["thresholds"] == {"feature_psi": 0.25, "prediction_psi": 0.25, "unseen_share": 0.05}
    job = client.get(f"/api/v1/bulk-jobs/{job_id}", headers={"X-API-Key": key}).get_json()
    assert job["drift"] == {"status": "done", "alerts": report["alerts"]}
    with it_app.app_context():
        from hcl_server.db import BulkPartition
        from hcl_server.extensions import db

        counted = db.session.scalars(
            db.select(BulkPartition.drift_counts).where(BulkPartition.job_id == job_id)
        )
        rows = [c["rows"] for c in counted]  # partitions group whole shards: about 300 customers each
        assert len(rows) > 1 and sum(rows) == 1200
    thresholds = "/api/v1/settings/drift-thresholds"
    put = client.put(thresholds, headers={"X-API-Key": key}, json={"unseen_share": 0.5})
    assert put.status_code == 200 and put.get_json()["source"] == "organization"
    assert client.get(thresholds, headers={"X-API-Key": key}).get_json()["unseen_share"] == 0.5
    assert client.delete(thresholds, headers={"X-API-Key": key}).get_json()["source"] == "default"
    result = it_app.test_cli_runner().invoke(args=["orgs", "create", "Drift intruder"])
    other = {"X-API-Key": json.loads(result.output.strip().splitlines()[-1])["api_key"]}
    assert client.get(f"/api/v1/bulk-jobs/{job_id}/drift", headers=other).status_code == 404


def _dashboard_shows_the_job(client, key: str, job: dict) -> None:
    """Issue 15 item 5 on PostgreSQL: the dashboard summary reads the job, its drift report and
    the production model from PostgreSQL's JSON columns."""
    body = client.get("/api/v1/dashboard/summary", headers={"X-API-Key": key}).get_json()
    production = body["models"]["production"]
    assert production["version"] == 1 and production["validation"]["churn_roc_auc"] > 0.5
    entry = next(j for j in body["jobs"] if j["id"] == job["id"])
    assert entry["risk_distribution"] == job["summary"]["risk_distribution"]
    assert sum(entry["risk_distribution"].values()) == entry["customers"] == 1200
    report = client.get(f"/api/v1/bulk-jobs/{job['id']}/drift", headers={"X-API-Key": key}).get_json()
    assert body["drift"] == {
        "job": {"job_id": job["id"], "finished_at": entry["finished_at"]},
        "alerts": report["alerts"],
    }
    reasons = {r["reason"] for r in body["retraining"]["reasons"]}
    assert ("drift" in reasons) == bool(report["alerts"])  # other reasons depend on earlier modules' uploads


def test_other_organization_sees_nothing(it_app, trained):
    import json

    result = it_app.test_cli_runner().invoke(args=["orgs", "create", "Intruder"])
    other = {"X-API-Key": json.loads(result.output.strip().splitlines()[-1])["api_key"]}
    client = it_app.test_client()
    assert client.get(f"/api/v1/datasets/{trained['dataset']['id']}", headers=other).status_code == 404
    assert client.get(f"/api/v1/training-jobs/{trained['job']['id']}", headers=other).status_code == 404
    assert client.get("/api/v1/models/1", headers=other).status_code == 404


def test_the_reconciler_reads_the_tasks_waiting_in_every_priority_list(redis_server, tmp_path):
    """celery_app.waiting_tasks reads Redis' priority lists ("celery", "celery:1", ...): the
    reconciler re-sends a task only when it is not among them (a private Redis, no worker)."""
    from celery import _state

    from hcl_server import create_app
    from hcl_server.celery_app import enqueue, waiting_tasks

    before = _state.default_app
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": "sqlite://",
            "REDIS_URL": redis_server.url,
            "STORAGE_DIR": str(tmp_path),
        }
    )
    if before is not None:
        before.set_default()
    with app.app_context():
        enqueue("hcl.bulk.partition", "job-1", 3, priority=2)
        enqueue("hcl.datasets.profile", "ds-1")
        enqueue("hcl.bulk.xlsx", "job-1", priority=9)
        assert waiting_tasks() == {
            ("hcl.bulk.partition", ("job-1", 3)),
            ("hcl.datasets.profile", ("ds-1",)),
            ("hcl.bulk.xlsx", ("job-1",)),
        }
