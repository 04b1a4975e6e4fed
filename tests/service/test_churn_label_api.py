"""A training job with "churn_label": true learns the dataset's churn label column, and says so in
its metrics and its model version; asked of a dataset without the column, it is refused."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def labelled_shop(app, make_org, upload_dataset, basket_labelled_frame):
    """An organization with a dataset whose `churned` column labels 399 of its 400 customers."""
    import time

    client = app.test_client()
    shop = make_org("Labelled")
    frame = basket_labelled_frame(n_customers=400)
    frame.loc[frame["customer_id"] == frame["customer_id"].iloc[0], "churned"] = ""
    data = frame.assign(event_date=frame["event_date"].dt.strftime("%Y-%m-%d")).to_csv(index=False).encode()
    ds = upload_dataset(client, shop["api_key"], data, name="labelled")
    assert ds.status_code == 202, ds.get_json()
    for _ in range(720):
        dataset = client.get(ds.headers["Location"], headers={"X-API-Key": shop["api_key"]}).get_json()
        if dataset["status"] not in ("queued", "running"):
            break
        time.sleep(0.5)
    assert dataset["status"] == "succeeded", dataset
    return shop, dataset


def test_a_training_job_learns_the_label_and_its_model_says_so(client, labelled_shop, wait):
    shop, dataset = labelled_shop
    key = {"X-API-Key": shop["api_key"]}
    assert dataset["profile"]["columns"]["churn_label"] == "churned"
    body = {"dataset_id": dataset["id"], "models": ["linear"], "churn_label": True}
    job = client.post("/api/v1/training-jobs", headers=key, json=body)
    assert job.status_code == 202, job.get_json()
    done = wait(job.headers["Location"], shop["api_key"], timeout=900)
    assert done["status"] == "succeeded", done
    assert done["params"]["churn_label"] is True and done["training"]["churn_label"] == "churned"
    label = done["metrics"]["churn"]["label"]
    assert label["source"] == "churn_label column churned" and label["customers"] == 399
    assert label["validation"].startswith("20% of labelled customers held out at random")
    assert any(w.startswith("1 customer(s) have no churn label") for w in done["warnings"])
    model = client.get(f"/api/v1/models/{done['model_version']}", headers=key).get_json()
    assert model["metrics"]["churn"]["label"] == label
    assert model["details"]["training"]["churn_label"] == "churned"


def test_churn_label_on_a_dataset_without_the_column_is_refused(client, org, trained):
    key = {"X-API-Key": org["api_key"]}
    body = {"dataset_id": trained["dataset"]["id"], "churn_label": True}
    answer = client.post("/api/v1/training-jobs", headers=key, json=body)
    assert answer.status_code == 422, answer.get_json()
    message = answer.get_json()["error"]["message"]
    assert "has no churn label column" in message and 'column_mapping {"churn_label": "HEADER"}' in message
    bad = client.post("/api/v1/training-jobs", headers=key, json={**body, "churn_label": "maybe"})
    assert bad.status_code == 422 and "churn_label" in bad.get_json()["error"]["details"]["json"]


def test_a_bulk_job_scores_a_file_whose_label_column_has_a_value_training_would_refuse(
    client, org, upload, wait, trained, basket_labelled_frame
):
    """Scoring never uses the label, so a bad label value must not fail a bulk job."""
    frame = basket_labelled_frame(n_customers=60)
    frame["churned"] = frame["churned"].astype(object)
    frame.loc[3, "churned"] = "maybe"
    data = frame.assign(event_date=frame["event_date"].dt.strftime("%Y-%m-%d")).to_csv(index=False).encode()
    r = upload(client, "/api/v1/bulk-jobs", org["api_key"], data, "labelled.csv", name="labelled")
    assert r.status_code == 202, r.get_json()
    body = wait(r.headers["Location"], org["api_key"])
    assert body["status"] == "succeeded", body
    assert body["total_customers"] == frame["customer_id"].nunique()
