"""Risk thresholds through the API (GET/PUT/DELETE /api/v1/settings/risk-thresholds) and the
training-job list."""

from __future__ import annotations

import pytest

URL = "/api/v1/settings/risk-thresholds"
CUSTOMER = {
    "customer_id": "thresholds",
    "transactions": [
        {"event_date": "2024-10-01", "amount": 30.5},
        {"event_date": "2024-11-20", "amount": 12},
    ],
    "as_of": "2024-12-01",
}


def test_thresholds_set_through_the_api_change_the_next_scoring(client, org, trained):
    key = {"X-API-Key": org["api_key"]}
    before = client.get(URL, headers=key).get_json()
    assert before["source"] == "model" and before["model_version"] == 1
    assert before["medium"] < before["high"] < before["critical"]
    first = client.post("/api/v1/predict", headers=key, json=CUSTOMER).get_json()
    p = first["churn_probability"]
    assert 0 < p < 1, first
    try:
        # Every threshold below the customer's probability: Critical.
        r = client.put(URL, headers=key, json={"medium": p / 4, "high": p / 2, "critical": p * 0.9})
        assert r.status_code == 200, r.get_json()
        assert r.get_json()["source"] == "organization" and r.get_json()["critical"] == p * 0.9
        assert client.get(URL, headers=key).get_json() == r.get_json()
        scored = client.post("/api/v1/predict", headers=key, json=CUSTOMER).get_json()
        assert scored["risk_segment"] == "Critical"
        assert scored["churn_probability"] == p  # only the segment moves
        # Every threshold above it: Low.
        above = {"medium": p + (1 - p) / 4, "high": p + (1 - p) / 2, "critical": p + 3 * (1 - p) / 4}
        assert client.put(URL, headers=key, json=above).status_code == 200
        assert client.post("/api/v1/predict", headers=key, json=CUSTOMER).get_json()["risk_segment"] == "Low"
    finally:
        back = client.delete(URL, headers=key)
    assert back.status_code == 200 and back.get_json() == before
    assert client.post("/api/v1/predict", headers=key, json=CUSTOMER).get_json() == first


@pytest.mark.parametrize(
    "body,field,message",
    [
        ({"medium": 0.5, "high": 0.5, "critical": 0.7}, "high", "must be greater than medium (0.5)"),
        ({"medium": 0.3, "high": 0.8, "critical": 0.7}, "critical", "must be greater than high (0.8)"),
        ({"medium": -0.1, "high": 0.5, "critical": 0.7}, "medium", "Must be greater than or equal to 0"),
        ({"medium": 0.3, "high": 0.5, "critical": 1.5}, "critical", "less than or equal to 1"),
        ({"medium": 0.3, "high": 0.5}, "critical", "Missing data"),
        ({"medium": 0.3, "high": 0.5, "critical": 0.7, "low": 0.1}, "low", "Unknown field"),
        ({"medium": "x", "high": 0.5, "critical": 0.7}, "medium", "Not a valid number"),
    ],
)
def test_thresholds_are_validated(client, make_org, body, field, message):
    key = {"X-API-Key": make_org("Thresholds")["api_key"]}
    r = client.put(URL, headers=key, json=body)
    assert r.status_code == 422, r.get_json()
    error = r.get_json()["error"]
    assert field in error["details"]["json"] and message in error["message"], error
    # Nothing was stored: an organization without a model answers the defaults.
    assert client.get(URL, headers=key).get_json() == {
        "medium": 0.3,
        "high": 0.5,
        "critical": 0.7,
        "source": "default",
        "model_version": None,
    }


def test_thresholds_without_a_model(client, make_org):
    key = {"X-API-Key": make_org("No model")["api_key"]}
    r = client.put(URL, headers=key, json={"medium": 0, "high": 0.25, "critical": 1})
    assert r.status_code == 200
    assert r.get_json() == {
        "medium": 0,
        "high": 0.25,
        "critical": 1,
        "source": "organization",
        "model_version": None,
    }
    assert client.delete(URL, headers=key).get_json()["source"] == "default"
    assert client.get(URL).status_code == 401


def test_training_jobs_are_listed_newest_first(client, org, make_org, trained):
    key = {"X-API-Key": org["api_key"]}
    page = client.get("/api/v1/training-jobs", headers=key).get_json()
    assert page["total"] >= 1 and page["limit"] == 50 and page["offset"] == 0
    assert page["training_jobs"][-1]["id"] == trained["job"]["id"]  # the first one is the oldest
    assert page["training_jobs"][-1]["model_version"] == 1 and "metrics" in page["training_jobs"][-1]
    created = [job["created_at"] for job in page["training_jobs"]]
    assert created == sorted(created, reverse=True)
    past = client.get("/api/v1/training-jobs?limit=1&offset=1000", headers=key).get_json()
    assert past["training_jobs"] == [] and past["total"] == page["total"]
    assert client.get("/api/v1/training-jobs?limit=0", headers=key).status_code == 422
    other = {"X-API-Key": make_org("Other trainer")["api_key"]}
    assert client.get("/api/v1/training-jobs", headers=other).get_json()["training_jobs"] == []
