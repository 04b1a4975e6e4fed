"""Webhooks on the production parts: the delivery claimed with PostgreSQL's UPDATE ... RETURNING,
the retry sent through Redis with a countdown, the upload in S3; the receiver on loopback."""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.integration

BAD_LOG = b"customer_id,event_date,amount\nc1,not a date,1\n"


def test_a_failing_receiver_gets_the_event_on_the_next_try(it_app, worker, poll, upload, receivers):
    result = it_app.test_cli_runner().invoke(args=["orgs", "create", "Integration hooks"])
    key = json.loads(result.output.strip().splitlines()[-1])["api_key"]
    client, secret = it_app.test_client(), "integration-secret-0123"
    receiver = receivers(secret, answers=(503,))
    hook = client.post(
        "/api/v1/webhooks", headers={"X-API-Key": key}, json={"url": receiver.url, "secret": secret}
    ).get_json()

    response = upload(client, "/api/v1/datasets", key, BAD_LOG)
    assert response.status_code == 202, response.get_json()
    dataset = poll(client, response.headers["Location"], key)
    assert dataset["status"] == "failed"
    first, second = receiver.wait_for(2, job_id=dataset["id"])
    assert first["valid"] and second["valid"] and first["body"] == second["body"]
    assert second["event"]["type"] == "dataset.failed"
    assert second["at"] - first["at"] >= 0.45

    deadline = time.monotonic() + 10
    while True:
        [delivery] = client.get(
            f"/api/v1/webhooks/{hook['id']}/deliveries", headers={"X-API-Key": key}
        ).get_json()["deliveries"]
        if delivery["status"] != "pending" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert delivery["status"] == "delivered" and delivery["attempts"] == 2
    assert [a["status_code"] for a in delivery["history"]] == [503, 200]
