"""Webhooks end to end: a receiver on a loopback port, in this process, checks each event's
signature as an integrator would (the README's snippet); the real worker sends the events.

The session's worker retries after 0.5, 1 and 2 s, 4 attempts in all (conftest.service_env).
"""

from __future__ import annotations

import json
import threading
import time

from webhook_receiver import verify

HOOKS = "/api/v1/webhooks"
BAD_LOG = b"customer_id,event_date,amount\nc1,not a date,1\n"


def register(client, key: str, url: str, secret: str) -> dict:
    response = client.post(HOOKS, headers={"X-API-Key": key}, json={"url": url, "secret": secret})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def deliveries(client, key: str, hook_id: str) -> list[dict]:
    response = client.get(f"{HOOKS}/{hook_id}/deliveries", headers={"X-API-Key": key})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["deliveries"]


def test_signatures_are_hmac_sha256_of_timestamp_dot_body():
    from hcl_server.services.webhooks import signature_header

    body = b'{"id":"x"}'
    header = signature_header("s3cret-s3cret-s3cret", int(time.time()), body)
    assert verify("s3cret-s3cret-s3cret", header, body)
    assert not verify("another-secret-value", header, body)
    assert not verify("s3cret-s3cret-s3cret", header, body + b" ")
    old = signature_header("s3cret-s3cret-s3cret", int(time.time()) - 600, body)
    assert not verify("s3cret-s3cret-s3cret", old, body)  # a replay past the tolerance


def test_register_list_and_the_secret_shown_once(client, make_org):
    key = make_org("Hooks list")["api_key"]
    h = {"X-API-Key": key}
    created = register(client, key, "https://example.com/hooks/hcl", "a-secret-of-24-characters")
    assert created["secret"] == "a-secret-of-24-characters"
    assert created["secret_prefix"] == "a-secr…"
    assert "dataset.succeeded" in created["events"] and "bulk_job.cancelled" in created["events"]
    listed = client.get(HOOKS, headers=h).get_json()["webhooks"]
    assert [w["id"] for w in listed] == [created["id"]]
    assert "secret" not in listed[0] and listed[0]["secret_prefix"] == "a-secr…"
    one = client.get(f"{HOOKS}/{created['id']}", headers=h).get_json()
    assert "secret" not in one and one["url"] == "https://example.com/hooks/hcl"

    generated = client.post(HOOKS, headers=h, json={"url": "http://10.0.0.5:8080/x"}).get_json()
    assert generated["secret"].startswith("whsec_") and len(generated["secret"]) > 40

    for bad in (
        {"url": "ftp://example.com/x"},
        {"url": "file:///etc/passwd"},
        {"url": "https://"},
        {"url": "http://exa mple.com/"},
        {"url": "http://example.com:99999/"},
        {"url": "https://example.com/x", "secret": "short"},
        {"secret": "a-secret-of-24-characters"},
    ):
        response = client.post(HOOKS, headers=h, json=bad)
        assert response.status_code == 422, (bad, response.get_json())
        assert response.get_json()["error"]["message"].startswith("the request is not valid")
    assert len(client.get(HOOKS, headers=h).get_json()["webhooks"]) == 2


def test_a_dataset_event_arrives_signed(client, make_org, upload_dataset, log_bytes, wait, receivers):
    org = make_org("Hooks signed")
    key, secret = org["api_key"], "whsec_test_secret_for_signing"
    receiver = receivers(secret)
    hook = register(client, key, receiver.url, secret)

    ds = upload_dataset(client, key, log_bytes, name="shop")
    assert ds.status_code == 202
    dataset = wait(ds.headers["Location"], key)
    assert dataset["status"] == "succeeded", dataset
    [request] = receiver.wait_for(1, job_id=dataset["id"])
    assert request["valid"], request["headers"]
    event = request["event"]
    assert event["type"] == "dataset.succeeded"
    assert event["organization_id"] == org["organization_id"]
    assert event["data"] == {
        "id": dataset["id"],
        "object": "dataset",
        "status": "succeeded",
        "error": None,
        "link": f"/api/v1/datasets/{dataset['id']}",
    }
    assert event["created_at"].endswith("Z")
    headers = request["headers"]
    assert headers["X-HCL-Event"] == "dataset.succeeded" and headers["X-HCL-Event-Id"] == event["id"]
    assert headers["Content-Type"] == "application/json"

    # A training job cancelled at once: its event is recorded by the request, sent by the worker.
    job = client.post(
        "/api/v1/training-jobs", headers={"X-API-Key": key}, json={"dataset_id": dataset["id"]}
    ).get_json()
    assert (
        client.post(f"/api/v1/training-jobs/{job['id']}/cancel", headers={"X-API-Key": key}).status_code
        == 200
    )
    [cancelled] = receiver.wait_for(1, job_id=job["id"])
    assert cancelled["valid"] and cancelled["event"]["type"] == "training_job.cancelled"
    assert cancelled["event"]["data"]["link"] == f"/api/v1/training-jobs/{job['id']}"

    # A file that cannot be read: dataset.failed, with the reason.
    bad = wait(upload_dataset(client, key, BAD_LOG).headers["Location"], key)
    assert bad["status"] == "failed"
    [failed] = receiver.wait_for(1, job_id=bad["id"])
    assert failed["valid"] and failed["event"]["type"] == "dataset.failed"
    assert [failed["event"]["data"]["error"]] == bad["errors"]

    shown = {d["job_id"]: d for d in deliveries(client, key, hook["id"])}
    assert set(shown) == {dataset["id"], job["id"], bad["id"]}
    first = shown[dataset["id"]]
    assert first["status"] == "delivered" and first["attempts"] == 1 and first["last_status_code"] == 200
    assert first["event_type"] == "dataset.succeeded" and first["payload"] == event
    assert first["history"][0]["status_code"] == 200 and first["history"][0]["error"] is None


def test_a_receiver_failing_twice_gets_the_event_on_the_third_try(
    client, make_org, upload_dataset, wait, receivers
):
    key, secret = make_org("Hooks retried")["api_key"], "retry-secret-0123456789"
    receiver = receivers(secret, answers=(500, 500))
    hook = register(client, key, receiver.url, secret)

    bad = wait(upload_dataset(client, key, BAD_LOG).headers["Location"], key)
    assert bad["status"] == "failed"  # the dataset's own state is not the receiver's business
    requests = receiver.wait_for(3, job_id=bad["id"])
    assert all(r["valid"] for r in requests)
    assert len({r["body"] for r in requests}) == 1  # the same event each time, signed anew
    assert requests[1]["at"] - requests[0]["at"] >= 0.45 and requests[2]["at"] - requests[1]["at"] >= 0.95

    deadline = time.monotonic() + 10
    while (shown := deliveries(client, key, hook["id"]))[0]["status"] == "pending":
        assert time.monotonic() < deadline, shown
        time.sleep(0.2)
    [delivery] = shown
    assert delivery["status"] == "delivered" and delivery["attempts"] == 3
    history = delivery["history"]
    assert [a["attempt"] for a in history] == [1, 2, 3]
    assert [a["status_code"] for a in history] == [500, 500, 200]
    assert [a["error"] for a in history] == ["HTTP 500", "HTTP 500", None]
    assert (
        history[0]["next_attempt_at"]
        and history[1]["next_attempt_at"]
        and history[2]["next_attempt_at"] is None
    )
    assert all(a["duration_ms"] >= 0 for a in history)
    time.sleep(1.5)
    assert len(receiver.wait_for(3)) == 3 and len(receiver.received) == 3  # nothing after the success


def test_deleting_a_webhook_stops_its_deliveries(client, make_org, upload_dataset, wait, receivers):
    key, secret = make_org("Hooks deleted")["api_key"], "delete-secret-0123456789"
    hold = threading.Event()
    receiver = receivers(secret, answers=(500, 500, 500, 500), hold=hold)
    hook = register(client, key, receiver.url, secret)

    wait(upload_dataset(client, key, BAD_LOG).headers["Location"], key)
    receiver.wait_for(1)  # the first attempt is waiting for its answer
    assert client.delete(f"{HOOKS}/{hook['id']}", headers={"X-API-Key": key}).status_code == 204
    hold.set()  # now it answers 500: a retry would be due 0.5 s later
    time.sleep(4)
    assert len(receiver.received) == 1
    assert client.get(f"{HOOKS}/{hook['id']}/deliveries", headers={"X-API-Key": key}).status_code == 404
    assert client.get(HOOKS, headers={"X-API-Key": key}).get_json()["webhooks"] == []


def test_another_organization_cannot_see_or_delete_a_webhook(client, make_org):
    mine, theirs = make_org("Hooks mine")["api_key"], make_org("Hooks theirs")["api_key"]
    hook = register(client, mine, "https://example.com/a", "mine-secret-0123456789")
    other = {"X-API-Key": theirs}
    assert client.get(HOOKS, headers=other).get_json()["webhooks"] == []
    for method, path in (
        ("get", f"{HOOKS}/{hook['id']}"),
        ("delete", f"{HOOKS}/{hook['id']}"),
        ("get", f"{HOOKS}/{hook['id']}/deliveries"),
    ):
        response = getattr(client, method)(path, headers=other)
        assert response.status_code == 404, (method, path)
        assert response.get_json()["error"]["code"] == "not_found"
    assert client.get(f"{HOOKS}/{hook['id']}", headers={"X-API-Key": mine}).status_code == 200
    assert client.get(HOOKS).status_code == 401


def test_the_reconciler_sends_a_delivery_whose_task_was_lost(app, make_org, worker, receivers):
    """A delivery committed pending whose message never reached the broker (the broker was down,
    or the worker died holding it): the reconciler finds it overdue and sends it."""
    from datetime import timedelta

    from hcl_server.db import Webhook, WebhookDelivery
    from hcl_server.db.models import utcnow
    from hcl_server.extensions import db
    from hcl_server.services.reconcile import reconcile

    org = make_org("Hooks reconciled")
    secret = "lost-secret-0123456789"
    receiver = receivers(secret)
    body = json.dumps({"id": "evt-lost", "type": "bulk_job.failed", "data": {"id": "job-lost"}})
    with app.app_context():
        hook = Webhook(organization_id=org["organization_id"], url=receiver.url, secret=secret)
        db.session.add(hook)
        db.session.flush()
        db.session.add(
            WebhookDelivery(
                webhook_id=hook.id,
                organization_id=org["organization_id"],
                event_id="evt-lost",
                event_type="bulk_job.failed",
                job_id="job-lost",
                body=body,
                next_attempt_at=utcnow() - timedelta(hours=1),
                history=[],
            )
        )
        db.session.commit()
        sent = reconcile()
    assert sent["hcl.webhooks.deliver"] >= 1
    [request] = receiver.wait_for(1, job_id="job-lost")
    assert request["valid"] and request["body"] == body.encode()


def test_a_bulk_job_that_succeeds_sends_its_event(client, org, trained, upload, log_bytes, wait, receivers):
    key, secret = org["api_key"], "bulk-secret-0123456789"
    receiver = receivers(secret)
    hook = register(client, key, receiver.url, secret)
    try:
        response = upload(client, "/api/v1/bulk-jobs", key, log_bytes)
        assert response.status_code == 202, response.get_json()
        job = wait(response.headers["Location"], key)
        assert job["status"] == "succeeded", job
        [request] = receiver.wait_for(1, job_id=job["id"])
        assert request["valid"] and request["event"]["type"] == "bulk_job.succeeded"
        assert request["event"]["data"]["link"] == f"/api/v1/bulk-jobs/{job['id']}"
    finally:
        client.delete(f"{HOOKS}/{hook['id']}", headers={"X-API-Key": key})
