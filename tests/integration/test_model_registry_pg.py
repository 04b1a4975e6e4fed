"""Model aliases, their log and rollback on PostgreSQL (row locks, timezone-aware timestamps),
and the registry migration's back-fill there (tests/registry_migration.py)."""

from __future__ import annotations

import json

import pytest
from registry_migration import check_back_fill

pytestmark = pytest.mark.integration

CUSTOMER = {
    "customer_id": "x",
    "as_of": "2025-01-01",
    "transactions": [{"event_date": "2024-12-01", "amount": 20}],
}


def test_promote_rollback_and_history(it_app, it_org, trained, copy_versions):
    from hcl_server.db import ApiKey
    from hcl_server.extensions import db

    new = json.loads(
        it_app.test_cli_runner().invoke(args=["orgs", "create", "Registry"]).output.splitlines()[-1]
    )
    org_id, h = new["organization_id"], {"X-API-Key": new["api_key"]}
    with it_app.app_context():
        copy_versions(it_org["organization_id"], org_id, 3)  # on the trained bundle
        key_id = db.session.scalar(db.select(ApiKey.id).where(ApiKey.organization_id == org_id))

    client = it_app.test_client()

    def production() -> int:
        return client.post("/api/v1/predict", headers=h, json=CUSTOMER).get_json()["model_version"]

    assert client.post("/api/v1/models/rollback", headers=h).status_code == 409
    assert client.post("/api/v1/models/2/promote", headers=h, json={"reason": "r2"}).status_code == 200
    assert client.post("/api/v1/models/3/promote", headers=h, json={"reason": "r3"}).status_code == 200
    assert production() == 3
    r = client.post("/api/v1/models/rollback", headers=h, json={"reason": "back"})
    assert r.status_code == 200 and r.get_json()["version"] == 2 and r.get_json()["aliases"] == ["production"]
    assert production() == 2
    page = client.get("/api/v1/models/history?alias=production&limit=3", headers=h).get_json()
    assert page["total"] == 4
    assert [(e["from_version"], e["to_version"], e["actor"], e["reason"]) for e in page["events"]] == [
        (3, 2, key_id, "rollback: back"),
        (2, 3, key_id, "r3"),
        (1, 2, key_id, "r2"),
    ]
    assert all(e["at"].endswith("+00:00") for e in page["events"])
    other = json.loads(
        it_app.test_cli_runner().invoke(args=["orgs", "create", "Else"]).output.splitlines()[-1]
    )
    assert client.post("/api/v1/models/2/promote", headers={"X-API-Key": other["api_key"]}).status_code == 404


def test_the_migration_back_fills_on_postgres(new_schema):
    with new_schema("hcl_mig") as url:
        check_back_fill(url)
