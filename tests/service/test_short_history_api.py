"""A shop with three weeks of events trains through the API (BG/NBD + Gamma-Gamma fallback) and
is scored by /predict and by a bulk job, with the columns every model gives."""

from __future__ import annotations

import io

import pandas as pd
import pytest


@pytest.fixture(scope="module")
def short_log() -> bytes:
    from ml_pipeline.data.synthetic import generate_events

    frame = generate_events(n_customers=300, n_events=4000, days=21, seed=21)
    return frame.assign(event_date=frame["event_date"].dt.strftime("%Y-%m-%d")).to_csv(index=False).encode()


@pytest.fixture(scope="module")
def short_shop(client, make_org, upload_dataset, wait, short_log):
    """An organization whose first (production) model is trained on the three-week log."""
    shop = make_org("Three weeks old")
    key = {"X-API-Key": shop["api_key"]}
    ds = upload_dataset(client, shop["api_key"], short_log, name="new shop")
    assert ds.status_code == 202, ds.get_json()
    dataset = wait(ds.headers["Location"], shop["api_key"])
    assert dataset["status"] == "succeeded", dataset
    job = client.post("/api/v1/training-jobs", headers=key, json={"dataset_id": dataset["id"]})
    assert job.status_code == 202, job.get_json()
    return shop, wait(job.headers["Location"], shop["api_key"])


@pytest.fixture(scope="module")
def client(app):  # module-scoped: the fixtures above are
    return app.test_client()


def test_a_three_week_log_trains_the_fallback_and_says_why(client, short_shop):
    shop, job = short_shop
    assert job["status"] == "succeeded", job
    assert job["training"]["model"] == "btyd_fallback" and "spans 21 days" in job["training"]["why"]
    churn = job["metrics"]["churn"]["model"]
    assert churn["type"] == "btyd_fallback" and churn["why"] == job["training"]["why"]
    assert set(job["selection"].values()) == {"btyd_fallback"}
    assert any("not validated" in w for w in job["warnings"])
    detail = client.get("/api/v1/models/1", headers={"X-API-Key": shop["api_key"]}).get_json()
    assert detail["details"]["training"]["model"] == "btyd_fallback"


def test_predict_scores_a_customer_with_the_fallback(client, short_shop):
    shop, job = short_shop
    names = [t[len("spend_") :] for t in job["metrics"] if t not in ("churn", "spend_total")]
    first, second = [n for n in names if n != "other"][:2]
    tx = [
        {"event_date": "2024-12-12", "amount": 30.5, "category": first},
        {"event_date": "2024-12-20", "amount": 12, "category": second},
    ]
    r = client.post(
        "/api/v1/predict",
        headers={"X-API-Key": shop["api_key"]},
        json={"customer_id": "c1", "transactions": tx, "as_of": "2025-01-01"},
    )
    assert r.status_code == 200, r.get_json()
    one = r.get_json()
    assert 0 <= one["churn_probability"] <= 1 and one["model_version"] == job["model_version"]
    spend = dict(one["predicted_spend"])
    total = spend.pop("total")
    assert total > 0 and set(spend) == set(names)
    assert abs(sum(spend.values()) - total) <= 0.01 * len(spend)  # each rounded to cents
    assert spend[first] > 0 and spend[second] > 0  # the customer's own categories
    assert all(spend[n] == 0 for n in names if n not in (first, second))
    assert all(isinstance(text, str) for text in one["reasons"])


def test_a_bulk_job_scores_the_log_with_the_usual_columns(client, upload, short_shop, short_log, wait):
    shop, _ = short_shop
    key = {"X-API-Key": shop["api_key"]}
    r = upload(client, "/api/v1/bulk-jobs", shop["api_key"], short_log, "short.csv", name="short")
    assert r.status_code == 202, r.get_json()
    body = wait(r.headers["Location"], shop["api_key"])
    assert body["status"] == "succeeded", body
    assert body["total_customers"] == 300 and body["summary"]["predicted_spend_total"] > 0
    csv = client.get(f"/api/v1/bulk-jobs/{body['id']}/download", headers=key)
    frame = pd.read_csv(io.BytesIO(csv.data), dtype={"customer_id": str})
    cats = [c for c in frame.columns if c.startswith("spend_") and c != "spend_total"]
    assert cats and list(frame.columns) == [
        "customer_id",
        "churn_probability",
        "risk_segment",
        "spend_total",
        *cats,
        "reasons",
    ]
    assert (frame[cats].sum(axis=1) - frame["spend_total"]).abs().max() < 1e-6 * frame[
        "spend_total"
    ].max() + 0.01
