"""Ordinary exports read right through the API (issue 11): a line-item export and a payment
processor's export uploaded as datasets and as bulk jobs give the CLI's numbers."""

from __future__ import annotations

import csv
import io

LINE_ITEMS = (
    b"Invoice,StockCode,Quantity,InvoiceDate,Price,Customer ID\n"
    b"489434,85048,12,2023-01-05 10:00:00,2.50,13085.0\n"
    b"489434,79323,12,2023-01-05 10:00:00,2.50,13085\n"
    b"489435,22041,3,2023-01-06 09:00:00,1.25,13086.0\n"
    b"C489500,85048,-12,2023-01-07 11:00:00,2.50,13085.0\n"
)

PROCESSOR = (
    b"id,Type,Amount,Created (UTC),Customer ID\n"
    b"txn_1,charge,20.00,2023-01-05 10:00,cus_A\n"
    b"txn_2,refund,-5.00,2023-01-06 10:00,cus_A\n"
    b"txn_3,Zahlung,7.00,2023-01-06 10:00,cus_B\n"
)


def _dataset(client, org, upload_dataset, wait, data: bytes, **form) -> dict:
    r = upload_dataset(client, org["api_key"], data, **form)
    assert r.status_code == 202, r.get_json()
    return wait(r.headers["Location"], org["api_key"])


def test_a_line_item_export_as_a_dataset(client, org, upload_dataset, wait):
    body = _dataset(client, org, upload_dataset, wait, LINE_ITEMS)
    assert body["status"] == "succeeded", body
    p = body["profile"]
    assert (p["customers"], p["amount_total"], p["refund_total"], p["duplicate_rows"]) == (2, 33.75, 30.0, 0)
    assert p["event_types"] == {"purchase": 3, "refund": 1}
    assert p["reading"]["amount"].startswith("Quantity x Price")


def test_a_processor_export_with_the_event_types_field(client, org, upload_dataset, wait):
    body = _dataset(client, org, upload_dataset, wait, PROCESSOR, event_types='{"zahlung": "purchase"}')
    assert body["status"] == "succeeded", body
    p = body["profile"]
    assert p["event_types"] == {"purchase": 2, "refund": 1} and p["amount_total"] == 22.0
    assert p["reading"]["event_types"]["Zahlung"] == "purchase"


def test_a_refusal_names_the_api_field(client, org, upload_dataset, wait):
    text = b"customer_id;order_date;amount\nA;15-02-2023;$26.560\nB;16-02-2023;$87.680\n"
    body = _dataset(client, org, upload_dataset, wait, text)
    assert body["status"] == "failed"
    assert "decimal=comma" in body["errors"][0] and "--decimal" not in body["errors"][0], body
    body = _dataset(client, org, upload_dataset, wait, text, decimal="comma")
    assert body["status"] == "succeeded" and body["profile"]["amount_total"] == 114240.0, body


def test_a_line_item_export_as_a_bulk_job(client, org, upload, wait, trained):
    r = upload(client, "/api/v1/bulk-jobs", org["api_key"], LINE_ITEMS, as_of="2023-01-10")
    assert r.status_code == 202, r.get_json()
    body = wait(r.headers["Location"], org["api_key"])
    assert body["status"] == "succeeded", body
    download = client.get(
        f"/api/v1/bulk-jobs/{body['id']}/download?format=csv", headers={"X-API-Key": org["api_key"]}
    )
    rows = list(csv.DictReader(io.StringIO(download.get_data(as_text=True))))
    assert sorted(row["customer_id"] for row in rows) == ["13085", "13086"]
