"""With Redis, the lookup generation is a Redis counter: a key revoked by another process (the
command line, on PostgreSQL) answers 401 from this process's next request (hcl_server/generation.py)."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_key_revoked_elsewhere_is_refused_at_once_through_redis(it_app, it_env, it_org, run_python):
    from hcl_server.generation import RedisGeneration

    assert isinstance(it_app.extensions["hcl.generation"], RedisGeneration)
    client = it_app.test_client()
    made = client.post("/api/v1/api-keys", headers={"X-API-Key": it_org["api_key"]})
    assert made.status_code == 201, made.get_json()
    key, key_id = made.get_json()["api_key"], made.get_json()["id"]
    assert client.get("/api/v1/api-keys", headers={"X-API-Key": key}).status_code == 200
    with it_app.app_context():
        before = it_app.extensions["hcl.generation"].read()

    revoked = run_python(
        it_env, "-m", "flask", "--app", "run", "orgs", "keys", "revoke", it_org["organization_id"], key_id
    )
    assert json.loads(revoked.strip().splitlines()[-1])["active"] is False

    with it_app.app_context():
        assert it_app.extensions["hcl.generation"].read() != before
    assert client.get("/api/v1/api-keys", headers={"X-API-Key": key}).status_code == 401
    assert client.get("/api/v1/api-keys", headers={"X-API-Key": it_org["api_key"]}).status_code == 200
