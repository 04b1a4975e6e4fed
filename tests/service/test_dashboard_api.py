"""The dashboard summary (issue 15 item 5): models with validation and realized metrics, the
latest bulk jobs as a trend, open drift alerts, and why retraining is recommended."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import pytest

SUMMARY = "/api/v1/dashboard/summary"


@pytest.fixture(scope="module")
def shop(app, make_org, log_bytes, upload_dataset, wait, score_with_drift):
    """An organization of its own: a model trained, drift thresholds so low that any shift alerts,
    one bulk job scored 60 days after the training as-of date (every customer's recency moved)
    with its drift report written."""
    org = make_org("Dashboard shop")
    client, key = app.test_client(), org["api_key"]
    low = {"feature_psi": 1e-6, "prediction_psi": 1e-6}
    assert (
        client.put("/api/v1/settings/drift-thresholds", headers={"X-API-Key": key}, json=low).status_code
        == 200
    )
    dataset = wait(upload_dataset(client, key, log_bytes, name="shop").headers["Location"], key)
    assert dataset["status"] == "succeeded", dataset
    started = client.post(
        "/api/v1/training-jobs",
        headers={"X-API-Key": key},
        json={"dataset_id": dataset["id"], "models": ["lightgbm", "linear"]},
    )
    job = wait(started.headers["Location"], key)
    assert job["status"] == "succeeded", job
    scored, report = score_with_drift(org, log_bytes, "nightly", as_of="2025-03-02")
    assert report["status"] == "done" and report["alerts"], report
    return {**org, "dataset": dataset, "scored": scored, "report": report}


def test_an_organization_without_models_is_told_to_train(client, make_org):
    other = make_org("Dashboard newcomer")
    body = client.get(SUMMARY, headers={"X-API-Key": other["api_key"]}).get_json()
    assert body["models"] == {"production": None, "candidate": None}
    assert body["jobs"] == [] and body["drift"] == {"job": None, "alerts": []}
    assert body["retraining"]["recommended"] is True
    assert [r["reason"] for r in body["retraining"]["reasons"]] == ["no_production_model"]


def test_production_model_and_bulk_jobs_are_summarized(client, shop):
    key, scored = {"X-API-Key": shop["api_key"]}, shop["scored"]
    body = client.get(SUMMARY, headers=key).get_json()
    production = body["models"]["production"]
    assert production["version"] == _production_version(client, key)
    detail = client.get(f"/api/v1/models/{production['version']}", headers=key).get_json()
    selected = detail["details"]["selection"]["churn"]
    churn = detail["metrics"]["churn"]["baseline" if selected == "baseline" else "model"]
    assert production["validation"]["churn_roc_auc"] == churn["roc_auc"]
    assert production["validation"]["churn_brier"] == churn["brier"]
    assert production["age_days"] == 0

    [job] = body["jobs"]
    assert job["id"] == scored["id"]
    summary = scored["summary"]
    assert job["risk_distribution"] == summary["risk_distribution"]
    assert sum(job["risk_distribution"].values()) == job["customers"] == scored["total_customers"]
    assert job["avg_churn_probability"] == summary["avg_churn_probability"]
    assert job["predicted_spend_total"] == summary["predicted_spend_total"]
    # the open alerts are the job's own drift report's
    assert job["drift_status"] == "done" and job["drift_alerts"] == len(shop["report"]["alerts"])
    assert body["drift"]["job"]["job_id"] == scored["id"]
    assert body["drift"]["alerts"] == shop["report"]["alerts"]
    reasons = {r["reason"]: r["message"] for r in body["retraining"]["reasons"]}
    assert f"{len(shop['report']['alerts'])} drift alert(s)" in reasons["drift"]
    assert set(reasons) == {"drift"}, "a new model on the latest dataset: no other reason"


def _production_version(client, key: dict) -> int:
    models = client.get("/api/v1/models", headers=key).get_json()
    models = models["models"] if isinstance(models, dict) else models
    return next(m["version"] for m in models if m["is_production"])


@contextmanager
def _rows(app, *rows):
    """Rows added for the length of a test, then deleted (the organization is shared)."""
    from hcl_server.extensions import db

    with app.app_context():
        for row in rows:
            db.session.add(row)
        db.session.commit()
    try:
        yield
    finally:
        with app.app_context():
            for row in rows:
                db.session.delete(db.session.merge(row))
            db.session.commit()


def test_realized_degradation_recommends_retraining(app, client, shop):
    from hcl_server.db import Outcome
    from hcl_server.repositories import model_versions

    key = {"X-API-Key": shop["api_key"]}
    before = client.get(SUMMARY, headers=key).get_json()
    assert before["models"]["production"]["realized"] is None
    production = before["models"]["production"]
    with app.app_context():
        mv_id = model_versions.get_for_org(shop["organization_id"], production["version"]).id
    auc = production["validation"]["churn_roc_auc"] - 0.2
    outcome = Outcome(
        organization_id=shop["organization_id"],
        model_version_id=mv_id,
        job_id=shop["scored"]["id"],
        shadow=False,
        source_kind="dataset",
        source_id=shop["dataset"]["id"],
        as_of="2024-01-01",
        customers=321,
        metrics={"churn": {"roc_auc": auc, "brier": 0.1}, "spend": {"mae": 3.0, "gini": 0.4}},
    )
    with _rows(app, outcome):
        body = client.get(SUMMARY, headers=key).get_json()
        other = client.get(SUMMARY, headers={"X-API-Key": _other_key(app)}).get_json()
    realized = body["models"]["production"]["realized"]
    assert realized["churn_roc_auc"] == auc and realized["customers"] == 321
    assert realized["spend_mae"] == 3.0 and realized["comparison"] is None
    assert realized["source"] == {"kind": "dataset", "id": shop["dataset"]["id"]}
    reasons = {r["reason"]: r["message"] for r in body["retraining"]["reasons"]}
    assert body["retraining"]["recommended"] is True
    assert f"{auc:.3f}" in reasons["realized_degradation"]
    # another organization sees none of it
    assert other["drift"]["alerts"] == [] and other["models"]["production"] is None and other["jobs"] == []


def _other_key(app) -> str:
    import json

    result = app.test_cli_runner().invoke(args=["orgs", "create", "Dashboard onlooker"])
    return json.loads(result.output.strip().splitlines()[-1])["api_key"]


def test_an_old_production_model_is_due_for_retraining(app, client, shop):
    from hcl_server.db import ModelVersion
    from hcl_server.extensions import db

    key = {"X-API-Key": shop["api_key"]}
    version = _production_version(client, key)
    table = ModelVersion.__table__
    where = (table.c.organization_id == shop["organization_id"]) & (table.c.version == version)
    with app.app_context():
        created = db.session.execute(db.select(table.c.created_at).where(where)).scalar_one()
        db.session.execute(db.update(table).where(where).values(created_at=created - timedelta(days=120)))
        db.session.commit()
    try:
        body = client.get(SUMMARY, headers=key).get_json()
    finally:
        with app.app_context():
            db.session.execute(db.update(table).where(where).values(created_at=created))
            db.session.commit()
    assert body["models"]["production"]["age_days"] == 120
    reasons = {r["reason"]: r["message"] for r in body["retraining"]["reasons"]}
    assert "trained 120 days ago" in reasons["model_age"]
