"""Realized outcomes on PostgreSQL, Redis and S3 with a real worker: a bulk job's predictions are
scored once a newer dataset covers their horizon, a shadow version is compared with production
and promoted by the rule, every number stored in PostgreSQL's JSON (no NaN reaches it)."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.integration

AS_OF = "2024-10-01"


def _post(client, url: str, key: str, frame: pd.DataFrame, filename: str, **form):
    data = frame.assign(event_date=frame["event_date"].dt.strftime("%Y-%m-%d")).to_csv(index=False).encode()
    return client.post(
        url,
        headers={"X-API-Key": key},
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(data), filename), **form},
    )


def test_outcomes_and_auto_promotion_on_postgres(
    it_app, it_org, trained, poll, copy_versions, overwrite_shadow
):
    from hcl_server.db import Prediction
    from hcl_server.extensions import db
    from ml_pipeline.data.synthetic import generate_events

    client = it_app.test_client()
    org = json.loads(
        it_app.test_cli_runner().invoke(args=["orgs", "create", "Outcomes"]).output.strip().splitlines()[-1]
    )
    key, h = org["api_key"], {"X-API-Key": org["api_key"]}
    with it_app.app_context():
        assert db.engine.dialect.name == "postgresql"
        copy_versions(it_org["organization_id"], org["organization_id"], 2)  # version 2: candidate
    assert (
        client.put(
            "/api/v1/settings/auto-promotion", headers=h, json={"enabled": True, "min_customers": 50}
        ).status_code
        == 200
    )

    full = generate_events(n_customers=600, n_events=8000, days=400, seed=5)
    r = _post(
        client,
        "/api/v1/bulk-jobs",
        key,
        full[full["event_date"] < pd.Timestamp(AS_OF)],
        "past.csv",
        as_of=AS_OF,
    )
    job = poll(client, r.headers["Location"], key)
    assert job["status"] == "succeeded", job

    # version 2 (a copy of version 1) is scored in shadow by the real worker
    job = poll(client, r.headers["Location"], key, done=lambda b: b["shadow"]["status"] != "pending")
    assert job["shadow"] == {
        "version": 2,
        "status": "done",
        "customers": job["total_customers"],
        "error": None,
    }
    with it_app.app_context():
        rows = db.session.execute(
            db.select(Prediction.customer_id, Prediction.churn_probability, Prediction.spend_total).where(
                Prediction.job_id == job["id"]
            )
        ).all()
        # then its churn probabilities are pushed towards the observed outcome, so its realized log
        # loss is lower
        after = full[
            (full["event_date"] >= pd.Timestamp(AS_OF)) & (full["event_date"] < pd.Timestamp("2024-10-31"))
        ]
        bought = set(
            after.loc[after["event_type"].fillna("purchase") == "purchase", "customer_id"].astype(str)
        )
        overwrite_shadow(
            job["id"],
            [(c, np.clip(0.5 * p + (0.05 if c in bought else 0.5), 0.01, 0.99), s) for c, p, s in rows],
        )

    ds = _post(client, "/api/v1/datasets", key, full, "whole.csv")
    assert poll(client, ds.headers["Location"], key)["status"] == "succeeded"
    body = poll(client, "/api/v1/models/2/outcomes", key, timeout=120, done=lambda b: b.get("jobs"))
    [row] = body["jobs"]
    assert row["shadow"] is True and row["customers"] == job["total_customers"]
    assert row["comparison"]["decision"]["promoted"] is True, row["comparison"]["decision"]
    prod = client.get("/api/v1/models/1/outcomes", headers=h).get_json()
    assert prod["jobs"][0]["metrics"]["churn"]["roc_auc"] > 0.5
    latest = client.get("/api/v1/models/history", headers=h).get_json()["events"][0]
    assert latest["actor"] == "rule:auto-promotion" and latest["to_version"] == 2
