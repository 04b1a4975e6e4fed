"""Champion–challenger (issue 15, item 7): a bulk job also scores the organization's candidate in
shadow, stored apart from its predictions and downloads, with a real worker on the embedded
defaults. One organization trains twice (a linear model, then LightGBM, which becomes the
candidate) and scores the same file before and after the second training."""

from __future__ import annotations

import io
import time
from datetime import timedelta

import pandas as pd
import pytest

BULK = "/api/v1/bulk-jobs"


def _train(client, key: str, dataset_id: str, models: list[str], wait) -> dict:
    r = client.post(
        "/api/v1/training-jobs", headers={"X-API-Key": key}, json={"dataset_id": dataset_id, "models": models}
    )
    assert r.status_code == 202, r.get_json()
    done = wait(r.headers["Location"], key, timeout=600)
    assert done["status"] == "succeeded", done
    return done


def _bulk(client, upload, key: str, data: bytes, wait) -> dict:
    r = upload(client, BULK, key, data, "nightly.csv")
    assert r.status_code == 202, r.get_json()
    return wait(r.headers["Location"], key, timeout=300)


def _shadow_settled(client, key: str, job_id: str, timeout: float = 180.0) -> dict:
    """The job answer once its shadow scoring is no longer pending."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"{BULK}/{job_id}", headers={"X-API-Key": key}).get_json()
        if (body["shadow"] or {}).get("status") != "pending" or time.monotonic() > deadline:
            return body
        time.sleep(0.5)


@pytest.fixture(scope="module")
def champion(app, make_org, log_bytes, upload, upload_dataset, wait):
    """An organization with version 1 (production, linear), a bulk job scored then, version 2
    (LightGBM, the candidate) and the same file scored again: (key, organization id, job before,
    job after)."""
    client = app.test_client()
    org = make_org("Challenger")
    key = org["api_key"]
    ds = upload_dataset(client, key, log_bytes, name="shop")
    assert ds.status_code == 202, ds.get_json()
    dataset = wait(ds.headers["Location"], key)
    _train(client, key, dataset["id"], ["linear"], wait)
    before = _bulk(client, upload, key, log_bytes, wait)
    _train(client, key, dataset["id"], ["lightgbm"], wait)
    after = _bulk(client, upload, key, log_bytes, wait)
    assert before["status"] == after["status"] == "succeeded", (before, after)
    return key, org["organization_id"], before, _shadow_settled(client, key, after["id"])


def _shadow_rows(app, job_id: str) -> pd.DataFrame:
    from hcl_server.db import ModelVersion, ShadowPrediction
    from hcl_server.extensions import db

    with app.app_context():
        rows = db.session.execute(
            db.select(
                ModelVersion.version,
                ShadowPrediction.partition,
                ShadowPrediction.customer_id,
                ShadowPrediction.churn_probability,
                ShadowPrediction.spend_total,
                ShadowPrediction.spend,
            )
            .join(ModelVersion, ModelVersion.id == ShadowPrediction.model_version_id)
            .where(ShadowPrediction.job_id == job_id)
        ).all()
    return pd.DataFrame(
        rows, columns=["version", "partition", "customer_id", "churn", "spend_total", "spend"]
    )


def test_the_candidate_is_scored_in_shadow_on_every_customer_of_the_job(app, client, champion):
    key, _, _, job = champion
    h = {"X-API-Key": key}
    assert job["model_version"] == 1
    assert job["shadow"] == {"version": 2, "status": "done", "customers": 401, "error": None}
    shadow = _shadow_rows(app, job["id"])
    page = client.get(f"{BULK}/{job['id']}/predictions", headers=h, query_string={"limit": 1000}).get_json()
    production = {p["customer_id"]: p for p in page["predictions"]}
    # The predictions pages hold the production model's rows only, one per customer.
    assert page["total"] == job["total_customers"] == 401 == len(production)
    assert len(shadow) == 401 and set(shadow["version"]) == {2}
    assert set(shadow["customer_id"]) == set(production) and sorted(set(shadow["partition"])) == [0, 1, 2]
    # Rounded as the job's own rows, with the same spend categories; another model, other numbers.
    assert (shadow["churn"].between(0, 1)).all() and (shadow["churn"].round(4) == shadow["churn"]).all()
    assert ((shadow["spend_total"] * 100).round(6) % 1 == 0).all()
    assert all(
        set(s) == set(production[c]["predicted_spend"]) - {"total"}
        for c, s in zip(shadow["customer_id"], shadow["spend"])
    )
    differs = [
        abs(production[c]["churn_probability"] - p) > 1e-4
        for c, p in zip(shadow["customer_id"], shadow["churn"])
    ]
    assert sum(differs) > 200


def test_downloads_carry_the_production_model_only(client, champion):
    key, _, before, job = champion
    h = {"X-API-Key": key}
    csv = client.get(f"{BULK}/{job['id']}/download", headers=h)
    assert csv.status_code == 200
    frame = pd.read_csv(io.BytesIO(csv.data), dtype={"customer_id": str})
    earlier = pd.read_csv(
        io.BytesIO(client.get(f"{BULK}/{before['id']}/download", headers=h).data), dtype={"customer_id": str}
    )
    # Same file, same production model: the file is what it was before a candidate existed.
    assert list(frame.columns) == list(earlier.columns) and len(frame) == 401
    pd.testing.assert_frame_equal(frame, earlier)


def test_no_candidate_no_shadow_and_a_promoted_candidate_is_not_shadowed(app, champion):
    from hcl_server.repositories import model_versions
    from hcl_server.services import registry
    from hcl_server.services.shadow import shadow_version_id

    key, org_id, before, _ = champion
    assert before["shadow"] is None
    assert _shadow_rows(app, before["id"]).empty
    with app.app_context():
        v1 = model_versions.get_for_org(org_id, 1)
        v2 = model_versions.get_for_org(org_id, 2)
        assert shadow_version_id(org_id, v1.id) == v2.id
        # Once the candidate is promoted the alias still names it: nothing else to compare with.
        assert shadow_version_id(org_id, v2.id) is None
        assert registry.list_aliases(org_id)  # the organization has its aliases (not an empty read)


def test_a_shadow_task_sent_twice_or_lost_leaves_one_row_per_customer(app, champion):
    from hcl_server.db import BulkPartition
    from hcl_server.db.models import utcnow
    from hcl_server.extensions import db
    from hcl_server.services.reconcile import reconcile
    from hcl_server.services.shadow_scoring import score_shadow_partition

    key, _, _, job = champion
    with app.app_context():
        part = db.session.scalar(
            db.select(BulkPartition).where(BulkPartition.job_id == job["id"], BulkPartition.index == 1)
        )
        n = part.summary["shadow"]["customers"]
        # Its outcome forgotten (as if the worker died before recording it) and run again here.
        part.summary = {k: v for k, v in part.summary.items() if k != "shadow"}
        db.session.commit()
        score_shadow_partition(job["id"], 1)
        db.session.expire_all()
        assert db.session.get(BulkPartition, part.id).summary["shadow"] == {"status": "done", "customers": n}
        # Lost again with a stale heartbeat and no message waiting: the reconciler sends it to the worker.
        part = db.session.get(BulkPartition, part.id)
        part.summary = {k: v for k, v in part.summary.items() if k != "shadow"}
        part.heartbeat_at = utcnow() - timedelta(days=1)
        db.session.commit()
        assert reconcile()["hcl.bulk.shadow"] == 1
    body = _shadow_settled(app.test_client(), key, job["id"])
    assert body["shadow"] == {"version": 2, "status": "done", "customers": 401, "error": None}
    shadow = _shadow_rows(app, job["id"])
    assert len(shadow) == 401 and shadow["customer_id"].is_unique


def test_a_broken_candidate_fails_the_shadow_not_the_job(app, client, champion, log_bytes, upload, wait):
    from hcl_server.db import ModelVersion
    from hcl_server.extensions import db
    from hcl_server.repositories import model_versions
    from hcl_server.services import registry

    key, org_id, _, _ = champion
    with app.app_context():
        src = model_versions.get_for_org(org_id, 2)
        broken = ModelVersion(
            organization_id=org_id,
            version=3,
            storage_prefix=f"orgs/{org_id}/models/gone",
            metrics=src.metrics,
            bundle_metadata=src.bundle_metadata,
        )
        db.session.add(broken)
        db.session.commit()
        registry.set_alias(org_id, "candidate", 3, "test", "a bundle that is not in storage")
    try:
        job = _bulk(client, upload, key, log_bytes, wait)
        assert job["status"] == "succeeded" and job["total_customers"] == 401, job
        body = _shadow_settled(client, key, job["id"])
        shadow = body["shadow"]
        assert shadow["version"] == 3 and shadow["status"] == "failed" and shadow["customers"] == 0
        assert shadow["error"].startswith(
            "partition 0: the candidate did not score: the bundle of model version 3"
        )
        assert "missing or unreadable" in shadow["error"] and "/tmp" not in shadow["error"]
        assert _shadow_rows(app, job["id"]).empty
        # The job itself is whole: its predictions and download.
        assert client.get(f"{BULK}/{job['id']}/download", headers={"X-API-Key": key}).status_code == 200
    finally:
        with app.app_context():
            registry.set_alias(org_id, "candidate", 2, "test", "back to the trained candidate")


def test_a_cancelled_job_scores_nothing_in_shadow(app, client, champion, log_bytes, upload):
    from hcl_server.services.shadow_scoring import score_shadow_partition

    key, _, _, _ = champion
    h = {"X-API-Key": key}
    r = upload(client, BULK, key, log_bytes, "nightly.csv")
    assert r.status_code == 202
    job_id = r.get_json()["id"]
    # Queued or running for seconds yet (three partitions to score): it can be cancelled.
    assert client.post(f"{BULK}/{job_id}/cancel", headers=h).status_code == 200
    with app.app_context():
        score_shadow_partition(job_id, 0)
    assert _shadow_rows(app, job_id).empty
    body = client.get(f"{BULK}/{job_id}", headers=h).get_json()
    assert body["status"] == "cancelled" and body["shadow"]["status"] == "stopped"
    assert body["shadow"]["version"] == 2 and body["shadow"]["customers"] == 0
