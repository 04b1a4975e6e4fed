"""Model aliases, their append-only log, rollback and lineage (issue 15, item 1), on the embedded
defaults. Versions beyond the trained one are registered directly, pointing at its bundle, so the
tests do not train three times."""

from __future__ import annotations

import pytest

CUSTOMER = {
    "customer_id": "c1",
    "as_of": "2018-01-01",
    "transactions": [{"event_date": "2017-06-01", "amount": 4}],
}


@pytest.fixture
def three_versions(app, make_org, org, trained, copy_versions):
    """A fresh organization with versions 1 (production, as its first) to 3, on the trained bundle:
    (headers, key id, organization id)."""
    from hcl_server.db import ApiKey
    from hcl_server.extensions import db

    new = make_org("Registry")
    with app.app_context():
        copy_versions(org["organization_id"], new["organization_id"], 3)
        key_id = db.session.scalar(
            db.select(ApiKey.id).where(ApiKey.organization_id == new["organization_id"])
        )
    return {"X-API-Key": new["api_key"]}, key_id, new["organization_id"]


def production(client, h) -> int:
    return client.post("/api/v1/predict", headers=h, json=CUSTOMER).get_json()["model_version"]


def test_training_registers_lineage_and_logs_the_production_alias(client, org, trained):
    h = {"X-API-Key": org["api_key"]}
    detail = client.get("/api/v1/models/1", headers=h).get_json()
    lineage = detail["lineage"]
    assert lineage["dataset_id"] == trained["dataset"]["id"]
    assert lineage["training_job_id"] == trained["job"]["id"]
    assert lineage["params"] == trained["job"]["params"] and lineage["metrics"] == detail["metrics"]
    assert lineage["training_data_sha256"] == detail["details"]["training_data"]["sha256"]
    assert len(lineage["training_data_sha256"]) == 64
    assert detail["aliases"] == ["production"] and detail["is_production"] is True
    first = client.get("/api/v1/models/history?alias=production", headers=h).get_json()["events"][-1]
    assert (first["from_version"], first["to_version"], first["actor"]) == (None, 1, "rule:no-production")


def test_lineage_cannot_change_after_registration(app, org, trained):
    from hcl_server.db import ModelVersion
    from hcl_server.extensions import db

    with app.app_context():
        mv = db.session.scalar(
            db.select(ModelVersion).where(
                ModelVersion.organization_id == org["organization_id"], ModelVersion.version == 1
            )
        )
        mv.training_data_sha256 = "0" * 64
        with pytest.raises(ValueError, match="training_data_sha256 cannot change"):
            db.session.flush()
        db.session.rollback()


def test_new_versions_become_candidate(client, three_versions):
    h, _, _ = three_versions
    models = {m["version"]: m for m in client.get("/api/v1/models", headers=h).get_json()["models"]}
    assert models[1]["aliases"] == ["production"] and models[1]["is_production"]
    assert models[3]["aliases"] == ["candidate"] and models[2]["aliases"] == []
    events = client.get("/api/v1/models/history?alias=candidate", headers=h).get_json()["events"]
    assert [(e["from_version"], e["to_version"], e["actor"]) for e in events] == [
        (2, 3, "rule:retrained"),
        (None, 2, "rule:retrained"),
    ]


def test_promote_and_rollback_are_logged_and_seen_by_the_next_prediction(client, three_versions):
    h, key_id, _ = three_versions
    assert production(client, h) == 1
    r = client.post("/api/v1/models/2/promote", headers=h, json={"reason": "better AUC"})
    assert r.status_code == 200 and r.get_json()["version"] == 2 and r.get_json()["aliases"] == ["production"]
    assert production(client, h) == 2
    assert client.post("/api/v1/models/3/promote", headers=h).status_code == 200  # no body: no reason
    assert production(client, h) == 3
    latest = client.get("/api/v1/models/history", headers=h).get_json()["events"][:2]
    assert [(e["from_version"], e["to_version"], e["actor"], e["reason"]) for e in latest] == [
        (2, 3, key_id, None),
        (1, 2, key_id, "better AUC"),
    ]
    assert latest[0]["at"].endswith("+00:00")

    r = client.post("/api/v1/models/rollback", headers=h, json={"reason": "v3 drifts"})
    assert r.status_code == 200 and r.get_json()["version"] == 2
    assert production(client, h) == 2  # the very next request
    models = {m["version"]: m for m in client.get("/api/v1/models", headers=h).get_json()["models"]}
    assert [v for v, m in models.items() if m["is_production"]] == [2]
    event = client.get("/api/v1/models/history?limit=1", headers=h).get_json()
    # first production, two candidates, two promotions, the rollback
    assert event["total"] == 6 and event["limit"] == 1
    assert (event["events"][0]["from_version"], event["events"][0]["to_version"]) == (3, 2)
    assert event["events"][0]["reason"] == "rollback: v3 drifts" and event["events"][0]["actor"] == key_id


def test_rollback_without_an_earlier_production_answers_409(client, three_versions):
    h, _, _ = three_versions
    r = client.post("/api/v1/models/rollback", headers=h)
    assert r.status_code == 409 and "no earlier production version" in r.get_json()["error"]["message"]
    assert production(client, h) == 1


def test_set_list_and_delete_aliases(client, three_versions):
    h, key_id, _ = three_versions
    r = client.put("/api/v1/models/aliases/shadow-a_1", headers=h, json={"version": 2, "reason": "A/B"})
    assert r.status_code == 200 and r.get_json()["alias"] == "shadow-a_1" and r.get_json()["version"] == 2
    listed = client.get("/api/v1/models/aliases", headers=h).get_json()["aliases"]
    assert [(a["alias"], a["version"]) for a in listed] == [
        ("candidate", 3),
        ("production", 1),
        ("shadow-a_1", 2),
    ]
    assert client.get("/api/v1/models/2", headers=h).get_json()["aliases"] == ["shadow-a_1"]

    assert client.delete("/api/v1/models/aliases/shadow-a_1?reason=done", headers=h).status_code == 204
    assert client.delete("/api/v1/models/aliases/shadow-a_1", headers=h).status_code == 404
    event = client.get("/api/v1/models/history?alias=shadow-a_1", headers=h).get_json()["events"]
    assert [(e["from_version"], e["to_version"], e["reason"]) for e in event] == [
        (2, None, "done"),
        (None, 2, "A/B"),
    ]
    assert all(e["actor"] == key_id for e in event)

    # Removing production leaves no production model; setting it again restores one.
    assert client.delete("/api/v1/models/aliases/production", headers=h).status_code == 204
    assert client.post("/api/v1/predict", headers=h, json=CUSTOMER).status_code == 409
    assert client.put("/api/v1/models/aliases/production", headers=h, json={"version": 3}).status_code == 200
    assert production(client, h) == 3


@pytest.mark.parametrize("alias", ["Production", "a" * 41, "with space", "é"])
def test_a_bad_alias_name_answers_422(client, three_versions, alias):
    h, _, _ = three_versions
    r = client.put(f"/api/v1/models/aliases/{alias}", headers=h, json={"version": 1})
    assert r.status_code == 422 and "not a valid name" in r.get_json()["error"]["message"]
    assert client.delete(f"/api/v1/models/aliases/{alias}", headers=h).status_code == 422
    assert client.get(f"/api/v1/models/history?alias={alias}", headers=h).status_code == 422


def test_unknown_version_and_bad_bodies(client, three_versions):
    h, _, _ = three_versions
    assert client.put("/api/v1/models/aliases/x", headers=h, json={"version": 99}).status_code == 404
    assert client.put("/api/v1/models/aliases/x", headers=h, json={}).status_code == 422
    assert client.post("/api/v1/models/99/promote", headers=h).status_code == 404
    assert client.get("/api/v1/models/history?limit=0", headers=h).status_code == 422


def test_another_organization_gets_404_on_every_operation(client, make_org, three_versions):
    h, _, _ = three_versions
    other = {"X-API-Key": make_org("Other registry")["api_key"]}
    assert client.post("/api/v1/models/2/promote", headers=other).status_code == 404
    assert (
        client.put("/api/v1/models/aliases/candidate", headers=other, json={"version": 2}).status_code == 404
    )
    assert client.delete("/api/v1/models/aliases/production", headers=other).status_code == 404
    assert client.post("/api/v1/models/rollback", headers=other).status_code == 409  # it has no log
    assert client.get("/api/v1/models/aliases", headers=other).get_json()["aliases"] == []
    assert client.get("/api/v1/models/history", headers=other).get_json() == {
        "events": [],
        "total": 0,
        "limit": 50,
        "offset": 0,
    }
    assert production(client, h) == 1  # nothing of the organization moved


def test_a_retrained_version_becomes_candidate_and_production_stays(
    client, make_org, log_bytes, upload_dataset, wait
):
    """Two training jobs of a fresh organization through the worker: the first becomes production
    (rule:no-production), the second candidate (rule:retrained); both keep their lineage."""
    key = make_org("Retrained")["api_key"]
    h = {"X-API-Key": key}
    dataset = wait(upload_dataset(client, key, log_bytes, name="retrained").headers["Location"], key)
    assert dataset["status"] == "succeeded", dataset
    jobs = []
    for horizon in (30, 45):
        job = client.post(
            "/api/v1/training-jobs",
            headers=h,
            json={"dataset_id": dataset["id"], "horizon_days": horizon, "models": ["linear"]},
        )
        jobs.append(wait(job.headers["Location"], key))
        assert jobs[-1]["status"] == "succeeded", jobs[-1]
    models = {m["version"]: m for m in client.get("/api/v1/models", headers=h).get_json()["models"]}
    assert models[1]["aliases"] == ["production"] and models[2]["aliases"] == ["candidate"]
    assert not models[2]["is_production"]
    second = client.get("/api/v1/models/2", headers=h).get_json()["lineage"]
    assert (second["dataset_id"], second["training_job_id"]) == (dataset["id"], jobs[1]["id"])
    assert second["params"]["horizon_days"] == 45 and len(second["training_data_sha256"]) == 64
    events = client.get("/api/v1/models/history", headers=h).get_json()["events"]
    assert [(e["alias"], e["from_version"], e["to_version"], e["actor"]) for e in events] == [
        ("candidate", None, 2, "rule:retrained"),
        ("production", None, 1, "rule:no-production"),
    ]
