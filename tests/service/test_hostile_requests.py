"""Requests that used to answer 500 (issue 12): numbers no column can hold, client file names that
would become too long a path, a database that is down. Each answers 4xx or 503, never 500."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys


def test_numbers_no_column_can_hold(client, org):
    h = {"X-API-Key": org["api_key"]}
    r = client.get("/api/v1/bulk-jobs?offset=9223372036854775808", headers=h)
    assert r.status_code == 422 and "offset" in r.get_json()["error"]["message"]
    for url in ("/api/v1/models/2147483648", "/api/v1/models/99999999999999999999999"):
        assert client.get(url, headers=h).status_code == 404
    assert client.post("/api/v1/models/99999999999999999999999/promote", headers=h).status_code == 404


def test_a_long_client_file_name_is_kept_short(client, org, upload_dataset, wait):
    name = "Umsätze " + "x" * 300 + ".csv"
    r = upload_dataset(client, org["api_key"], b"customer_id,event_date\nA,2023-01-01\nA,2023-01-05\n", name)
    assert r.status_code == 202, r.get_json()
    body = wait(r.headers["Location"], org["api_key"])
    assert body["status"] == "succeeded", body
    assert len(body["filename"].encode()) <= 120 and body["filename"].endswith("~.csv")
    assert body["filename"].startswith("Umsätze xxx")


def test_a_form_part_without_a_name_is_422(client, org):
    body = (
        b'--XX\r\nContent-Disposition: form-data; filename="a.csv"\r\n\r\nx\r\n'
        b'--XX\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
        b"customer_id,event_date\nA,2023-01-01\n\r\n--XX--\r\n"
    )
    headers = {"X-API-Key": org["api_key"], "Content-Type": "multipart/form-data; boundary=XX"}
    assert client.post("/api/v1/datasets", headers=headers, data=body).status_code == 422


_DOWN = """
import io, json
from hcl_server import create_app
# Nothing listens on port 1: every query fails to connect, as when PostgreSQL is down.
client = create_app({"TESTING": True, "DATABASE_URL": "postgresql://hcl@127.0.0.1:1/none"}).test_client()
key = {"X-API-Key": "hcl_anything"}
csv = (io.BytesIO(b"customer_id,event_date\\nA,2023-01-01\\n"), "a.csv")
for r in (
    client.get("/api/v1/datasets", headers=key),
    client.post("/api/v1/datasets", headers=key, content_type="multipart/form-data", data={"file": csv}),
):
    print(json.dumps([r.status_code, r.headers.get("Retry-After"), r.get_json()["error"]["message"]]))
"""


def test_a_database_that_is_down_answers_503(service_env):
    # In its own process: an app made here would rebind the session's shared extensions.
    done = subprocess.run([sys.executable, "-c", _DOWN], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(answers) == 2
    for status, retry_after, message in answers:
        assert status == 503 and retry_after and "database is not reachable" in message


_BROKER_DOWN = """
import io, json, sys
from flask_migrate import upgrade
from hcl_server import create_app
app = create_app({"TESTING": True})
with app.app_context():
    upgrade()
key = json.loads(app.test_cli_runner().invoke(args=["orgs", "create", "B"]).output.strip().splitlines()[-1])["api_key"]
client = app.test_client()
hook = client.post("/api/v1/webhooks", headers={"X-API-Key": key}, json={"url": "http://127.0.0.1:9/h"}).get_json()
csv = (io.BytesIO(b"customer_id,event_date\\\\nA,2023-01-01\\\\nA,2023-01-05\\\\n"), "a.csv")
r = client.post("/api/v1/datasets", headers={"X-API-Key": key}, content_type="multipart/form-data", data={"file": csv})
rows = client.get("/api/v1/datasets", headers={"X-API-Key": key}).get_json()["datasets"]
sent = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers={"X-API-Key": key}).get_json()["deliveries"]
print(json.dumps([r.status_code, r.headers.get("Retry-After"), r.get_json()["error"]["message"], rows, sent]))
"""


def test_an_upload_while_the_broker_is_down_answers_503_and_leaves_nothing_queued(tmp_path):
    # Nothing listens on port 1: the broker (Redis) is down. In its own process, as above.
    env = {
        **os.environ,
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'h.sqlite3'}",
        "STORAGE_DIR": str(tmp_path / "storage"),
        "S3_BUCKET": "",
    }
    done = subprocess.run(
        [sys.executable, "-c", _BROKER_DOWN], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    status, retry_after, message, rows, sent = json.loads(done.stdout.splitlines()[-1])
    assert status == 503 and retry_after and "task queue is not reachable" in message
    assert [row["status"] for row in rows] == ["failed"]
    assert "submit it again" in rows[0]["errors"][0]
    # Its webhook event is recorded with the failure, pending for the reconciler to send once the
    # broker is back.
    assert [(d["event_type"], d["job_id"], d["status"], d["attempts"]) for d in sent] == [
        ("dataset.failed", rows[0]["id"], "pending", 0)
    ]


def test_a_worker_step_that_cannot_enqueue_its_next_task_fails_its_row(app, org):
    from hcl_server.db import Dataset
    from hcl_server.db.models import new_id
    from hcl_server.errors import Unavailable
    from hcl_server.extensions import db
    from hcl_server.tasks.outcome import record_outcome

    def step(row):
        raise Unavailable("the task queue is not reachable (connection refused); try again shortly")

    with app.app_context():
        row = Dataset(
            id=new_id(),
            organization_id=org["organization_id"],
            name="d",
            filename="d.csv",
            storage_key="k",
            size_bytes=1,
            status="running",
        )
        db.session.add(row)
        db.session.commit()
        record_outcome(row, step, what="dataset", internal_error="internal error")
        assert row.status == "failed" and "task queue is not reachable" in row.error


def test_an_encoding_with_a_nul_character_is_422(client, org, upload_dataset):
    # codecs.lookup raises ValueError ("embedded null character"), not LookupError, for such a name.
    r = upload_dataset(
        client, org["api_key"], b"customer_id,event_date\nA,2023-01-01\n", encoding="utf\x00-8"
    )
    assert r.status_code == 422, r.get_json()
    assert "encoding: unknown encoding 'utf\\x00-8'" in r.get_json()["error"]["message"]


def test_a_json_body_nested_too_deeply_is_400(client, org):
    # json.loads recurses once per level: this 200 kB body raised RecursionError, a 500.
    for url in ("/api/v1/predict", "/api/v1/predict/batch", "/api/v1/training-jobs"):
        r = client.post(
            url,
            headers={"X-API-Key": org["api_key"]},
            data="[" * 100_000 + "]" * 100_000,
            content_type="application/json",
        )
        assert r.status_code == 400, (url, r.get_json())
        assert r.get_json()["error"]["details"] == {"json": ["Invalid JSON body."]}


def test_a_json_body_over_the_limit_is_413_before_it_is_decoded(client, org, app, monkeypatch):
    # A 133 MB batch held a web worker for a minute while it was decoded and validated.
    monkeypatch.setitem(app.config, "MAX_JSON_MB", 1)
    body = '{"customers": [' + ",".join(['{"customer_id": "c", "transactions": []}'] * 30_000) + "]}"
    r = client.post(
        "/api/v1/predict/batch",
        headers={"X-API-Key": org["api_key"]},
        data=body,
        content_type="application/json",
    )
    assert r.status_code == 413, r.get_json()
    assert "over the limit of 1 MB" in r.get_json()["error"]["message"]
    assert "POST /api/v1/bulk-jobs" in r.get_json()["error"]["message"]


def test_a_nul_character_in_an_id_or_a_stored_name_is_4xx(client, org):
    # PostgreSQL cannot hold a NUL character, even as a query's parameter: each of these was a
    # 500 there. An id with one names nothing (404); a name or id sent to be stored is 422.
    h = {"X-API-Key": org["api_key"]}
    for url in (
        "/api/v1/datasets/a%00b",
        "/api/v1/training-jobs/a%00b",
        "/api/v1/bulk-jobs/a%00b",
        "/api/v1/bulk-jobs/a%00b/predictions",
        "/api/v1/bulk-jobs/a%00b/download",
        "/api/v1/customers/a%00b/prediction",
    ):
        assert client.get(url, headers=h).status_code == 404, url
    assert client.post("/api/v1/bulk-jobs/a%00b/cancel", headers=h).status_code == 404
    r = client.post("/api/v1/training-jobs", headers=h, json={"dataset_id": "a\x00b"})
    assert (
        r.status_code == 422
        and "dataset_id: must not contain a NUL character" in r.get_json()["error"]["message"]
    )
    for url in ("/api/v1/datasets", "/api/v1/bulk-jobs"):
        r = client.post(
            url,
            headers=h,
            content_type="multipart/form-data",
            data={"file": (io.BytesIO(b"customer_id,event_date\nA,2023-01-01\n"), "a.csv"), "name": "a\x00b"},
        )
        assert (
            r.status_code == 422
            and "name: must not contain a NUL character" in r.get_json()["error"]["message"]
        )


def test_a_file_field_that_is_not_a_file_is_422(client, org):
    # The upload parser reads form fields too: "file" sent as a plain field (multipart without a
    # filename, or url-encoded) reached the service as a str and failed there with a 500.
    h = {"X-API-Key": org["api_key"]}
    plain = b'--XX\r\nContent-Disposition: form-data; name="file"\r\n\r\nA,2023-01-01\r\n--XX--\r\n'
    for url in ("/api/v1/datasets", "/api/v1/bulk-jobs"):
        for content_type, body in (
            ("multipart/form-data; boundary=XX", plain),
            ("application/x-www-form-urlencoded", b"file=A,2023-01-01"),
        ):
            r = client.post(url, headers={**h, "Content-Type": content_type}, data=body)
            assert r.status_code == 422, (url, content_type, r.get_json())
            assert "file: must be a file" in r.get_json()["error"]["message"]


def _packed_gzip(megabytes: int) -> bytes:
    """A gzip CSV event log of about ``megabytes`` MB that packs to a few KB."""
    import gzip

    cycle = "".join(f"c{i % 97},2024-01-{1 + i % 28:02d},{1 + i % 50}.5\n" for i in range(100))
    text = "customer_id,event_date,amount\n" + cycle * (megabytes * (1 << 20) // len(cycle) + 1)
    return gzip.compress(text.encode())


def _padded_workbook(megabytes: int) -> bytes:
    """An .xlsx with a two-row sheet and a member of ``megabytes`` MB of zeros (a few KB packed)."""
    import io
    import zipfile

    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.append(["customer_id", "event_date", "amount"])
    wb.active.append(["a", "2024-01-01", 3])
    buf = io.BytesIO()
    wb.save(buf)
    with zipfile.ZipFile(buf, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/media/padding.bin", b"\0" * (megabytes << 20))
    return buf.getvalue()


def test_a_compressed_upload_that_unpacks_past_the_limit_fails_in_words(
    client, org, upload, upload_dataset, wait, trained
):
    """MAX_INFLATED_MB is 5 here: a 6 MB gzip and a 6 MB workbook fail before they are parsed,
    as a dataset and as a bulk job, saying the sizes, the limit and the way past it."""
    key = org["api_key"]
    gz, xlsx = _packed_gzip(6), _padded_workbook(6)
    assert len(gz) < 100_000 and len(xlsx) < 100_000
    ds = wait(upload_dataset(client, key, gz, "events.csv.gz").headers["Location"], key)
    assert ds["status"] == "failed", ds
    assert ds["errors"] == [
        "events.csv.gz: the gzip file unpacks to more than 5 MB (from 0.0 MB), the most allowed for a "
        "compressed file's contents; split the log into smaller files, or upload it as plain CSV if it "
        "is within the upload limit"
    ], ds
    bulk = wait(upload(client, "/api/v1/bulk-jobs", key, xlsx, "shop.xlsx").headers["Location"], key)
    assert bulk["status"] == "failed", bulk
    assert bulk["error"] == (
        "shop.xlsx: the workbook unpacks to 6 MB (xl/media/padding.bin alone 6 MB) from 0.0 MB, more "
        "than the 5 MB allowed for a compressed file's contents; export the sheet as CSV and use that file"
    ), bulk


def test_a_bulk_file_with_a_5_mb_field_is_scored(client, org, upload, wait, trained, log_bytes):
    """One row's note of 5 MB, longer than the 4.8 MB blocks the bulk split reads: the split reads
    the file again in larger blocks and every customer is scored."""
    import io

    import pandas as pd

    frame = pd.read_csv(io.BytesIO(log_bytes), dtype=str)
    frame["note"] = ""
    frame.loc[frame.index[len(frame) // 2], "note"] = "x" * (5 << 20)
    body = wait(
        upload(client, "/api/v1/bulk-jobs", org["api_key"], frame.to_csv(index=False).encode()).headers[
            "Location"
        ],
        org["api_key"],
    )
    assert body["status"] == "succeeded", body
    assert body["total_customers"] == frame["customer_id"].nunique()
