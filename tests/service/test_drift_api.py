"""Drift of bulk jobs (issue 15 item 3): each job's features and predictions against its model's
training reference, its alerts on the job's answer, GET .../drift, the organization's drift
thresholds, another organization's 404, the reconciler re-sending a lost drift task."""

from __future__ import annotations

import io
from datetime import timedelta

import pandas as pd
import pytest

BULK = "/api/v1/bulk-jobs"
THRESHOLDS = "/api/v1/settings/drift-thresholds"
DEFAULTS = {"feature_psi": 0.25, "prediction_psi": 0.25, "unseen_share": 0.05}


def shifted(log_bytes: bytes) -> bytes:
    """The shared log with every amount ten times larger and a third of the purchases in a
    category the model never saw: the same customers, a population that moved."""
    frame = pd.read_csv(io.BytesIO(log_bytes), dtype={"customer_id": str, "category": str})
    frame["amount"] = frame["amount"] * 10
    bought = frame["category"].notna() & (frame.index % 3 == 0)
    frame.loc[bought, "category"] = "DRONES"
    return frame.to_csv(index=False).encode()


@pytest.fixture(scope="module")
def same(org, trained, log_bytes, score_with_drift):
    """The training log itself, scored in bulk."""
    return score_with_drift(org, log_bytes, "same")


@pytest.fixture(scope="module")
def moved(org, trained, log_bytes, score_with_drift):
    """The shifted log (amounts x10, an unseen category), scored in bulk."""
    return score_with_drift(org, shifted(log_bytes), "moved")


def test_a_shifted_file_alerts_on_the_job_and_in_its_report(moved, same):
    job, report = moved
    assert report["status"] == "done" and report["error"] is None, report
    assert report["rows"] == job["total_customers"] == 401 and report["reference_rows"] > 0
    assert report["model_version"] == job["model_version"] and report["thresholds"] == DEFAULTS
    assert set(report["predictions"]) == {"churn_probability", "spend_total"} and report["missing"] == []
    spend = {name: r["psi"] for name, r in report["features"].items() if "spend" in name or "amount" in name}
    assert spend and max(spend.values()) > 1.0, spend  # ten times the money: a large shift
    assert report["predictions"]["spend_total"]["psi"] > 0.25
    assert report["predictions"]["spend_total"]["reading"] == "large shift"
    unseen = report["categories"]["category_spend"]
    assert unseen["unseen"] == ["DRONES"] and 0.2 < unseen["unseen_share"] < 0.5
    kinds = {(a["kind"], a["name"]) for a in report["alerts"]}
    assert ("unseen_share", "category_spend") in kinds and ("prediction_psi", "spend_total") in kinds
    assert {a["name"] for a in report["alerts"] if a["kind"] == "feature_psi"} >= {
        n for n, v in spend.items() if v > 0.25
    }
    # the job's answer carries the same alerts
    assert job["drift"] == {"status": "done", "alerts": report["alerts"]}
    # the training log itself, scored as of the day after its last event, is the reference's own
    # population (the model's as-of date): no shift at all
    _, calm = same
    assert calm["status"] == "done" and calm["alerts"] == []
    assert all(r["psi"] == 0 for r in [*calm["features"].values(), *calm["predictions"].values()])
    assert calm["categories"]["category_spend"] == {"unseen_share": 0.0, "unseen": []}
    assert calm["predictions"]["spend_total"]["psi"] < report["predictions"]["spend_total"]["psi"] / 4
    assert max(calm["features"][n]["psi"] for n in spend) < max(spend.values()) / 4


def test_the_job_list_and_a_running_job_say_pending_until_the_report(
    client, org, trained, moved, log_bytes, upload
):
    key = {"X-API-Key": org["api_key"]}
    listed = {
        j["id"]: j
        for j in client.get(BULK, headers=key, query_string={"limit": 1000}).get_json()["bulk_jobs"]
    }
    assert listed[moved[0]["id"]]["drift"] == moved[0]["drift"]
    started = upload(client, BULK, org["api_key"], log_bytes, "pending.csv")
    url = started.headers["Location"]
    # Right after the upload the job is queued or scoring: its drift is pending, and so is the report.
    assert client.get(url, headers=key).get_json()["drift"] == {"status": "pending", "alerts": []}
    early = client.get(f"{url}/drift", headers=key)
    assert early.status_code == 200 and early.get_json()["status"] == "pending"
    assert early.get_json()["features"] is None and early.get_json()["alerts"] == []
    cancel = client.post(f"{url}/cancel", headers=key)
    if cancel.status_code == 200:  # cancelled before it finished: no report will come
        late = client.get(f"{url}/drift", headers=key)
        assert late.status_code == 409 and "cancelled" in late.get_json()["error"]["message"]
        assert client.get(url, headers=key).get_json()["drift"] is None


def test_another_organization_gets_404(client, make_org, moved):
    other = {"X-API-Key": make_org("Drift outsider")["api_key"]}
    job_id = moved[0]["id"]
    assert client.get(f"{BULK}/{job_id}/drift", headers=other).status_code == 404
    assert client.get(f"{BULK}/nope/drift", headers=other).status_code == 404
    assert client.get(THRESHOLDS, headers=other).get_json() == {**DEFAULTS, "source": "default"}


def test_thresholds_set_by_the_organization_change_the_alerts(
    client, org, log_bytes, score_with_drift, moved
):
    key = {"X-API-Key": org["api_key"]}
    assert client.get(THRESHOLDS, headers=key).get_json() == {**DEFAULTS, "source": "default"}
    try:
        loose = {"feature_psi": 1000, "prediction_psi": 1000, "unseen_share": 0.9}
        r = client.put(THRESHOLDS, headers=key, json=loose)
        assert r.status_code == 200 and r.get_json() == {**loose, "source": "organization"}
        job, report = score_with_drift(org, shifted(log_bytes), "loose")
        assert report["status"] == "done" and report["thresholds"] == loose
        assert report["alerts"] == [] and job["drift"] == {"status": "done", "alerts": []}
        # the same population read as it was: the same PSI, only the alerts moved
        assert report["features"] == moved[1]["features"]
        # one key set: the others keep their defaults, what was set before is replaced
        r = client.put(THRESHOLDS, headers=key, json={"unseen_share": 0.5})
        assert r.get_json() == {**DEFAULTS, "unseen_share": 0.5, "source": "organization"}
    finally:
        back = client.delete(THRESHOLDS, headers=key)
    assert back.status_code == 200 and back.get_json() == {**DEFAULTS, "source": "default"}
    # a report keeps the thresholds it was written with
    assert client.get(f"{BULK}/{job['id']}/drift", headers=key).get_json()["thresholds"] == loose


@pytest.mark.parametrize(
    "body,field,message",
    [
        ({"feature_psi": 0.3, "psi": 0.1, "drift": 2}, "psi", "Unknown field"),
        ({"feature_psi": 0}, "feature_psi", "greater than 0"),
        ({"prediction_psi": -1}, "prediction_psi", "greater than 0"),
        ({"unseen_share": 1.5}, "unseen_share", "less than or equal to 1"),
        ({"feature_psi": "x"}, "feature_psi", "Not a valid number"),
        ({}, "_schema", "give at least one of feature_psi, prediction_psi, unseen_share"),
    ],
)
def test_drift_thresholds_are_validated(client, make_org, body, field, message):
    key = {"X-API-Key": make_org("Drift thresholds")["api_key"]}
    r = client.put(THRESHOLDS, headers=key, json=body)
    assert r.status_code == 422, r.get_json()
    error = r.get_json()["error"]
    assert field in error["details"]["json"] and message in error["message"], error
    if field == "psi":  # every unknown key is named
        assert "drift" in error["details"]["json"]
    assert client.get(THRESHOLDS, headers=key).get_json() == {**DEFAULTS, "source": "default"}


def test_a_lost_drift_task_is_sent_again_and_a_second_delivery_changes_nothing(
    app, client, org, moved, drift_report
):
    from hcl_server.db import DriftReport
    from hcl_server.db.models import utcnow
    from hcl_server.extensions import db
    from hcl_server.services import bulk_drift
    from hcl_server.services.reconcile import reconcile

    job_id, key = moved[0]["id"], {"X-API-Key": org["api_key"]}
    written = moved[1]
    with app.app_context():
        # a report written: another delivery of its task leaves it as it is
        before = db.session.get(DriftReport, job_id).updated_at
        bulk_drift.measure(job_id)
        db.session.expire_all()
        assert db.session.get(DriftReport, job_id).updated_at == before
        # a report left pending an hour ago with no task in the queue (a broker down at the merge)
        db.session.execute(
            db.update(DriftReport)
            .where(DriftReport.job_id == job_id)
            .values(status="pending", report=None, alerts=[], updated_at=utcnow() - timedelta(hours=1))
        )
        db.session.commit()
        assert client.get(f"{BULK}/{job_id}", headers=key).get_json()["drift"]["status"] == "pending"
        assert reconcile()["hcl.bulk.drift"] == 1
        assert reconcile()["hcl.bulk.drift"] == 0  # its clock restarted: not sent twice
    again = drift_report(job_id, org["api_key"])
    assert again == written
