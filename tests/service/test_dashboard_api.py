"""The dashboard summary (issue 15 item 5): models with validation and realized metrics, the
latest bulk jobs as a trend, open drift alerts, and why retraining is recommended."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

SUMMARY = "/api/v1/dashboard/summary"


def test_an_organization_without_models_is_told_to_train(client, make_org):
    other = make_org("Dashboard newcomer")
    body = client.get(SUMMARY, headers={"X-API-Key": other["api_key"]}).get_json()
    assert body["models"] == {"production": None, "candidate": None}
    assert body["jobs"] == [] and body["drift"] == {"job": None, "alerts": []}
    assert body["retraining"]["recommended"] is True
    assert [r["reason"] for r in body["retraining"]["reasons"]] == ["no_production_model"]


def test_production_model_and_bulk_jobs_are_summarized(client, org, trained, scored):
    key = {"X-API-Key": org["api_key"]}
    body = client.get(SUMMARY, headers=key).get_json()
    production = body["models"]["production"]
    assert production["version"] == _production_version(client, key)
    detail = client.get(f"/api/v1/models/{production['version']}", headers=key).get_json()
    selected = detail["details"]["selection"]["churn"]
    churn = detail["metrics"]["churn"]["baseline" if selected == "baseline" else "model"]
    assert production["validation"]["churn_roc_auc"] == churn["roc_auc"]
    assert production["validation"]["churn_brier"] == churn["brier"]
    assert production["age_days"] == 0

    job = next(j for j in body["jobs"] if j["id"] == scored["id"])
    summary = scored["summary"]
    assert job["risk_distribution"] == summary["risk_distribution"]
    assert sum(job["risk_distribution"].values()) == job["customers"] == scored["total_customers"]
    assert job["avg_churn_probability"] == summary["avg_churn_probability"]
    assert job["predicted_spend_total"] == summary["predicted_spend_total"]
    finished = [j["finished_at"] for j in body["jobs"]]
    assert finished == sorted(finished), "the trend runs oldest first"


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


def test_drift_alerts_and_realized_degradation_recommend_retraining(app, client, org, trained, scored):
    from hcl_server.db import DriftReport, Outcome
    from hcl_server.repositories import model_versions

    key = {"X-API-Key": org["api_key"]}
    before = client.get(SUMMARY, headers=key).get_json()
    assert "drift" not in {r["reason"] for r in before["retraining"]["reasons"]}
    production = before["models"]["production"]
    with app.app_context():
        mv_id = model_versions.get_for_org(org["organization_id"], production["version"]).id
    alert = {
        "kind": "feature_psi",
        "name": "recency_days",
        "value": 0.61,
        "threshold": 0.25,
        "message": "feature recency_days: PSI 0.61 > 0.25 (large shift)",
    }
    report = DriftReport(
        job_id=scored["id"],
        organization_id=org["organization_id"],
        model_version_id=mv_id,
        status="done",
        alerts=[alert],
    )
    auc = production["validation"]["churn_roc_auc"] - 0.2
    outcome = Outcome(
        organization_id=org["organization_id"],
        model_version_id=mv_id,
        job_id=scored["id"],
        shadow=False,
        source_kind="dataset",
        source_id=trained["dataset"]["id"],
        as_of="2024-01-01",
        customers=321,
        metrics={"churn": {"roc_auc": auc, "brier": 0.1}, "spend": {"mae": 3.0, "gini": 0.4}},
    )
    with _rows(app, report, outcome):
        body = client.get(SUMMARY, headers=key).get_json()
        other = client.get(SUMMARY, headers={"X-API-Key": _other_key(app)}).get_json()
    assert body["drift"]["job"]["job_id"] == scored["id"]
    assert body["drift"]["alerts"] == [alert]
    job = next(j for j in body["jobs"] if j["id"] == scored["id"])
    assert job["drift_status"] == "done" and job["drift_alerts"] == 1
    realized = body["models"]["production"]["realized"]
    assert realized["churn_roc_auc"] == auc and realized["customers"] == 321
    assert realized["spend_mae"] == 3.0 and realized["comparison"] is None
    assert realized["source"] == {"kind": "dataset", "id": trained["dataset"]["id"]}
    reasons = {r["reason"]: r["message"] for r in body["retraining"]["reasons"]}
    assert body["retraining"]["recommended"] is True
    assert "recency_days" in reasons["drift"]
    assert f"{auc:.3f}" in reasons["realized_degradation"]
    # another organization sees none of it
    assert other["drift"]["alerts"] == [] and other["models"]["production"] is None


def _other_key(app) -> str:
    import json

    result = app.test_cli_runner().invoke(args=["orgs", "create", "Dashboard onlooker"])
    return json.loads(result.output.strip().splitlines()[-1])["api_key"]


def test_an_old_production_model_is_due_for_retraining(app, client, org, trained):
    from hcl_server.db import ModelVersion
    from hcl_server.extensions import db

    key = {"X-API-Key": org["api_key"]}
    version = _production_version(client, key)
    table = ModelVersion.__table__
    where = (table.c.organization_id == org["organization_id"]) & (table.c.version == version)
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
