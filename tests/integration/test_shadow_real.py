"""Shadow scoring of the candidate (issue 15, item 7) on PostgreSQL, Redis and S3 with real
workers: the rows land in PostgreSQL, and the reconciler's query of lost shadow tasks (a JSON
path in the partition's summary) runs on PostgreSQL and sends a lost one again through Redis."""

from __future__ import annotations

from datetime import timedelta


def _train(client, key: str, dataset_id: str, models: list[str], poll) -> None:
    r = client.post(
        "/api/v1/training-jobs", headers={"X-API-Key": key}, json={"dataset_id": dataset_id, "models": models}
    )
    assert r.status_code == 202, r.get_json()
    assert poll(client, r.headers["Location"], key, timeout=400)["status"] == "succeeded"


def _shadow_rows(it_app, job_id: str) -> list[tuple]:
    from hcl_server.db import ModelVersion, ShadowPrediction
    from hcl_server.extensions import db

    with it_app.app_context():
        return db.session.execute(
            db.select(ModelVersion.version, ShadowPrediction.customer_id, ShadowPrediction.spend)
            .join(ModelVersion, ModelVersion.id == ShadowPrediction.model_version_id)
            .where(ShadowPrediction.job_id == job_id)
        ).all()


def test_the_candidate_is_scored_in_shadow_into_postgres(it_app, worker, poll, events_csv, upload):
    import json

    from hcl_server.db import BulkPartition
    from hcl_server.db.models import utcnow
    from hcl_server.extensions import db
    from hcl_server.services.reconcile import reconcile

    client = it_app.test_client()
    org = json.loads(
        it_app.test_cli_runner().invoke(args=["orgs", "create", "Shadow"]).output.strip().splitlines()[-1]
    )
    key = org["api_key"]
    data = events_csv(1200, 15000, seed=23)
    ds = upload(client, "/api/v1/datasets", key, data)
    dataset = poll(client, ds.headers["Location"], key)
    assert dataset["status"] == "succeeded", dataset
    _train(client, key, dataset["id"], ["linear"], poll)
    _train(client, key, dataset["id"], ["lightgbm"], poll)

    r = upload(client, "/api/v1/bulk-jobs", key, data)
    url = r.headers["Location"]
    settled = poll(
        client, url, key, done=lambda b: (b.get("shadow") or {}).get("status") not in (None, "pending")
    )
    assert settled["status"] == "succeeded" and settled["model_version"] == 1, settled
    assert settled["shadow"] == {"version": 2, "status": "done", "customers": 1200, "error": None}
    rows = _shadow_rows(it_app, settled["id"])
    assert len(rows) == 1200 and {v for v, _, _ in rows} == {2}
    assert len({c for _, c, _ in rows}) == 1200 and all(isinstance(s, dict) and s for _, _, s in rows)
    page = client.get(f"{url}/predictions", headers={"X-API-Key": key}, query_string={"limit": 1}).get_json()
    assert page["total"] == 1200  # the job's own predictions, not the shadow ones as well

    with it_app.app_context():
        # Every outcome recorded: the PostgreSQL query finds nothing to send.
        assert reconcile()["hcl.bulk.shadow"] == 0
        part = db.session.scalar(
            db.select(BulkPartition).where(BulkPartition.job_id == settled["id"], BulkPartition.index == 2)
        )
        part.summary = {k: v for k, v in part.summary.items() if k != "shadow"}
        part.heartbeat_at = utcnow() - timedelta(minutes=5)
        db.session.commit()
        assert reconcile()["hcl.bulk.shadow"] == 1
    again = poll(client, url, key, done=lambda b: b["shadow"]["status"] != "pending")
    assert again["shadow"] == settled["shadow"]
    assert len(_shadow_rows(it_app, settled["id"])) == 1200
