"""The file storage away for a while: S3 calls ride out a short outage, a longer one fails the job
in words, and readiness answers within seconds while S3 hangs."""

from __future__ import annotations

import re
import socket
import time

import pytest

from hcl_server.errors import StorageUnavailable
from hcl_server.storage import S3Storage

pytestmark = pytest.mark.integration


def test_a_storage_call_rides_out_a_short_outage(s3_server, tmp_path):
    store = S3Storage("hcl-it", s3_server.endpoint, retry_s=20)
    source = tmp_path / "a.csv"
    source.write_text("customer_id,event_date,amount\na,2024-01-01,1\n")
    back = s3_server.down_for(3)
    start = time.monotonic()
    try:
        store.put_file("faults/a.csv", source)  # refused at first: S3 is down
        took = time.monotonic() - start
        store.get_file("faults/a.csv", tmp_path / "b.csv")
    finally:
        back.join()
    assert 2.5 < took < 15, took  # it waited for S3 rather than failing at once
    assert (tmp_path / "b.csv").read_text() == source.read_text()
    assert store.exists("faults/a.csv") and store.list("faults") == ["faults/a.csv"]


def test_a_storage_outage_longer_than_the_budget_is_reported_in_words(s3_server, tmp_path):
    store = S3Storage("hcl-it", s3_server.endpoint, retry_s=2)
    s3_server.stop()
    start = time.monotonic()
    try:
        with pytest.raises(StorageUnavailable) as caught:
            store.get_file("faults/x.csv", tmp_path / "x.csv")
    finally:
        s3_server.start()
    message = caught.value.message
    said = re.fullmatch(
        r"the file storage did not answer for (\d+) s \(while reading x\.csv\); submit it again when "
        r"the storage is back",
        message,
    )
    assert said and int(said.group(1)) >= 2, message  # the whole budget was used first
    assert time.monotonic() - start < 10
    assert not store.exists("faults/no-such-key")  # a missing key is no outage: no retries, False


@pytest.fixture
def silent_endpoint():
    """A loopback socket that takes connections and never answers (an S3 that hangs): the kernel
    completes the handshakes into the listen backlog; nothing ever reads or writes."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_ready_answers_503_naming_storage_within_seconds_while_s3_hangs(it_env, silent_endpoint):
    from hcl_server import create_app

    app = create_app(
        {
            "TESTING": True,
            **{k: v for k, v in it_env.items() if not k.startswith("AWS")},
            "S3_ENDPOINT_URL": silent_endpoint,
        }
    )
    start = time.monotonic()
    r = app.test_client().get("/health/ready")
    took = time.monotonic() - start
    assert r.status_code == 503 and r.get_json()["error"]["details"]["failed"] == "storage", r.get_json()
    assert took < 6, took


def test_a_bulk_job_rides_out_a_short_s3_outage(
    it_app, it_org, trained, worker, s3_server, poll, events_csv, upload, worker_logs
):
    """S3 stopped for 4 s while partitions are scored: the job succeeds, each customer stored once."""
    client, key = it_app.test_client(), it_org["api_key"]
    before = worker_logs().count("trying again")
    r = upload(client, "/api/v1/bulk-jobs", key, events_csv(3000, 36000, seed=41))
    url = r.headers["Location"]
    poll(
        client,
        url,
        key,
        done=lambda b: b.get("stage") == "scoring" or b.get("status") not in ("queued", "running"),
    )
    s3_server.down_for(4).join()
    mid = client.get(url, headers={"X-API-Key": key}).get_json()
    assert mid["status"] == "running", f"the job finished before S3 came back: {mid}"
    body = poll(client, url, key, timeout=120)
    assert body["status"] == "succeeded" and body["total_customers"] == 3000, body
    assert worker_logs().count("trying again") > before  # a worker did meet the outage
    with it_app.app_context():
        from sqlalchemy import func

        from hcl_server.db import Prediction
        from hcl_server.extensions import db

        rows, distinct = db.session.execute(
            db.select(func.count(), func.count(func.distinct(Prediction.customer_id))).where(
                Prediction.job_id == body["id"]
            )
        ).one()
    assert rows == distinct == 3000


def test_a_bulk_job_fails_in_words_when_s3_stays_down(
    it_app, it_org, trained, worker, s3_server, poll, events_csv, upload
):
    """S3 down longer than the workers' STORAGE_RETRY_S (8 s here): the job fails naming the storage."""
    client, key = it_app.test_client(), it_org["api_key"]
    r = upload(client, "/api/v1/bulk-jobs", key, events_csv(300, 3000, seed=43))
    url = r.headers["Location"]
    s3_server.stop()
    try:
        body = poll(client, url, key, timeout=60)
    finally:
        s3_server.start()
    assert body["status"] == "failed", body
    assert "the file storage did not answer for" in body["error"], body
    assert "internal error" not in body["error"]


def test_an_upload_while_s3_is_down_answers_503_and_stores_no_row(
    it_env, it_app, it_org, s3_server, events_csv, upload
):
    """The request's own storage call gives up after STORAGE_RETRY_S (1 s here): 503 with
    Retry-After, the reason in words, and no dataset row left behind."""
    from hcl_server import create_app

    app = create_app(
        {
            "TESTING": True,
            **{k: v for k, v in it_env.items() if not k.startswith("AWS")},
            "STORAGE_RETRY_S": 1.0,
        }
    )
    client, key = app.test_client(), it_org["api_key"]
    before = len(client.get("/api/v1/datasets", headers={"X-API-Key": key}).get_json()["datasets"])
    s3_server.stop()
    try:
        r = upload(client, "/api/v1/datasets", key, events_csv(20, 100, seed=5))
    finally:
        s3_server.start()
    assert r.status_code == 503 and r.headers.get("Retry-After"), r.get_json()
    # The seconds are the ones that passed: a loaded machine takes longer than the 1 s budget.
    assert re.match(
        r"the file storage did not answer for \d+ s \(while storing events\.csv\); ",
        r.get_json()["error"]["message"],
    ), r.get_json()
    assert len(client.get("/api/v1/datasets", headers={"X-API-Key": key}).get_json()["datasets"]) == before
