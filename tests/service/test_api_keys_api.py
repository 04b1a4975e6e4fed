"""API keys through the API (/api/v1/api-keys) and the command line (flask orgs keys ...)."""

from __future__ import annotations

import json


def keys_of(client, key: str) -> list[dict]:
    r = client.get("/api/v1/api-keys", headers={"X-API-Key": key})
    assert r.status_code == 200, r.get_json()
    return r.get_json()["api_keys"]


def test_list_create_revoke_rotate(client, make_org):
    first = make_org("Keys")["api_key"]
    listed = keys_of(client, first)
    assert len(listed) == 1
    assert set(listed[0]) == {"id", "prefix", "created_at", "revoked_at", "active", "current"}
    assert listed[0]["prefix"] == first[:12] and listed[0]["active"] and listed[0]["current"]
    assert listed[0]["revoked_at"] is None
    first_id = listed[0]["id"]

    # Created: the key is shown once, and works at once.
    r = client.post("/api/v1/api-keys", headers={"X-API-Key": first})
    assert r.status_code == 201, r.get_json()
    second = r.get_json()
    assert second["api_key"].startswith("hcl_") and second["prefix"] == second["api_key"][:12]
    assert second["current"] is False and second["active"] is True
    listed = keys_of(client, second["api_key"])
    assert [k["id"] for k in listed] == [second["id"], first_id]  # newest first
    assert "api_key" not in listed[0] and listed[0]["current"] and not listed[1]["current"]
    assert second["api_key"] not in json.dumps(listed)

    # Revoked: answers 401 from the next request on.
    r = client.post(f"/api/v1/api-keys/{first_id}/revoke", headers={"X-API-Key": second["api_key"]})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["active"] is False and r.get_json()["revoked_at"]
    refused = client.get("/api/v1/datasets", headers={"X-API-Key": first})
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "unauthorized"
    again = client.post(f"/api/v1/api-keys/{first_id}/revoke", headers={"X-API-Key": second["api_key"]})
    assert again.status_code == 409 and "already revoked" in again.get_json()["error"]["message"]

    # The last active key is kept: revoking it would lock the organization out.
    last = client.post(f"/api/v1/api-keys/{second['id']}/revoke", headers={"X-API-Key": second["api_key"]})
    assert last.status_code == 409, last.get_json()
    assert "last active key" in last.get_json()["error"]["message"]
    assert client.get("/api/v1/datasets", headers={"X-API-Key": second["api_key"]}).status_code == 200

    # Rotated (the key the request is made with): the new key answers, the old one is revoked.
    r = client.post(f"/api/v1/api-keys/{second['id']}/rotate", headers={"X-API-Key": second["api_key"]})
    assert r.status_code == 201, r.get_json()
    third = r.get_json()
    assert third["replaces"]["id"] == second["id"] and third["replaces"]["active"] is False
    assert third["api_key"] not in (first, second["api_key"]) and third["id"] != second["id"]
    assert client.get("/api/v1/datasets", headers={"X-API-Key": second["api_key"]}).status_code == 401
    listed = keys_of(client, third["api_key"])
    assert [(k["id"], k["active"]) for k in listed] == [
        (third["id"], True),
        (second["id"], False),
        (first_id, False),
    ]
    r = client.post(f"/api/v1/api-keys/{second['id']}/rotate", headers={"X-API-Key": third["api_key"]})
    assert r.status_code == 409


def test_keys_of_another_organization_are_not_found(client, make_org):
    mine, theirs = make_org("Mine")["api_key"], make_org("Theirs")["api_key"]
    their_id = keys_of(client, theirs)[0]["id"]
    for action in ("revoke", "rotate"):
        r = client.post(f"/api/v1/api-keys/{their_id}/{action}", headers={"X-API-Key": mine})
        assert r.status_code == 404, r.get_json()
        assert client.post(f"/api/v1/api-keys/nope/{action}", headers={"X-API-Key": mine}).status_code == 404
    assert client.get("/api/v1/datasets", headers={"X-API-Key": theirs}).status_code == 200
    assert client.get("/api/v1/api-keys").status_code == 401


def test_active_keys_are_bounded(client, make_org):
    from hcl_server.services.orgs import MAX_ACTIVE_KEYS

    key = {"X-API-Key": make_org("Many keys")["api_key"]}
    for _ in range(MAX_ACTIVE_KEYS - 1):
        assert client.post("/api/v1/api-keys", headers=key).status_code == 201
    r = client.post("/api/v1/api-keys", headers=key)
    assert r.status_code == 409 and f"{MAX_ACTIVE_KEYS} active API keys" in r.get_json()["error"]["message"]


def test_keys_from_the_command_line(app, client, make_org):
    org = make_org("CLI keys")
    runner = app.test_cli_runner()

    def cli(*args: str) -> list[dict]:
        result = runner.invoke(args=["orgs", "keys", *args])
        assert result.exit_code == 0, result.output
        return [json.loads(line) for line in result.output.strip().splitlines()]

    (listed,) = cli("list", org["organization_id"])
    assert listed["prefix"] == org["api_key"][:12] and listed["active"] is True and "api_key" not in listed
    (created,) = cli("create", org["organization_id"])
    assert client.get("/api/v1/datasets", headers={"X-API-Key": created["api_key"]}).status_code == 200
    (rotated,) = cli("rotate", org["organization_id"], created["id"])
    assert rotated["replaces"]["id"] == created["id"]
    assert client.get("/api/v1/datasets", headers={"X-API-Key": created["api_key"]}).status_code == 401
    (revoked,) = cli("revoke", org["organization_id"], listed["id"])
    assert revoked["active"] is False
    assert client.get("/api/v1/datasets", headers={"X-API-Key": org["api_key"]}).status_code == 401

    # The last active key needs --force; unknown ids are errors in words.
    refused = runner.invoke(args=["orgs", "keys", "revoke", org["organization_id"], rotated["id"]])
    assert refused.exit_code == 1 and "last active key" in refused.output
    (forced,) = cli("revoke", "--force", org["organization_id"], rotated["id"])
    assert forced["active"] is False
    assert client.get("/api/v1/datasets", headers={"X-API-Key": rotated["api_key"]}).status_code == 401
    assert [k["active"] for k in cli("list", org["organization_id"])] == [False, False, False]
    missing = runner.invoke(args=["orgs", "keys", "list", "no-such-org"])
    assert missing.exit_code == 1 and "organization no-such-org not found" in missing.output
