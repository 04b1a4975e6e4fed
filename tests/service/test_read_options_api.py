"""Reading options on upload: every CLI reading option is a form field of both uploads, stored,
used when the file is read, and named in the API's words when a file is refused."""

from __future__ import annotations

import io
import json

import openpyxl
import pytest

from hcl_server.services.reading import OPTION_OF, api_worded
from ml_pipeline.data.eventlog import load_events
from ml_pipeline.data.options import OPTION_NAMES, ReadOptions
from ml_pipeline.data.profiling import profile

DATASETS = "/api/v1/datasets"
FIELDS = [field for _, field in OPTION_NAMES.values()]

STRIPE = (
    b"id,Type,Amount,Zeitpunkt (UTC),Customer ID\n"
    b"ch_1,charge,10.00,2023-01-05 10:00:00,cus_A\n"
    b"ch_2,charge,20.00,2023-01-06 11:00:00,cus_B\n"
    b"re_1,refund,5.00,2023-01-07 12:00:00,cus_A\n"
    b"ch_3,charge,7.50,2023-01-08 09:30:00,cus_C\n"
    b"po_1,payout,100.00,2023-01-09 00:00:00,cus_C\n"
)
# Without decimal=comma these amounts read as 1.25, 2.5 and 3 (a dot is a decimal point).
COMMA = b"customer_id;event_date;amount\na;2023-01-05;1.250\nb;2023-01-06;2.500\nc;2023-01-07;1.234,56\n"
BAD_ROWS = (
    b"customer_id,event_date,amount\n"
    + b"".join(b"c%d,2023-01-%02d,5\n" % (i, i + 1) for i in range(18))
    + b"x,someday,5\ny,never,5\n"
)
DUPLICATES = (
    b"customer_id,event_date,amount\n"
    + b"a,2023-01-01,5\n" * 3
    + b"".join(b"c%d,2023-01-%02d,5\n" % (i, i + 1) for i in range(10))
)
CP1252 = "customer_id,event_date,amount,category\na,2023-01-05,5,Café\nb,2023-01-06,7,Thé\n".encode("cp1252")
AMBIGUOUS = b"customer_id,event_date,amount\na,01/02/2023,5\nb,01/02/2023,6\n"
UNIT_PRICES = b"customer_id,event_date,Price,Quantity\na,2023-01-05,2.50,4\nb,2023-01-06,3.00,2\n"


def workbook() -> bytes:
    """An .xlsx whose first sheet is notes and whose events are on the sheet 'Events'."""
    wb = openpyxl.Workbook()
    wb.active.title = "Notes"
    wb.active.append(["exported by the shop"])
    events = wb.create_sheet("Events")
    for row in (["customer_id", "event_date", "amount"], ["a", "2023-01-05", 5], ["b", "2023-01-06", 7]):
        events.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def as_form(options: dict) -> dict:
    """Python values as the multipart form sends them (JSON objects and numbers as text)."""
    return {k: json.dumps(v) if isinstance(v, dict) else str(v) for k, v in options.items()}


def library_reading(tmp_path, data: bytes, filename: str, options: dict) -> tuple[dict, list[str]]:
    """What ml_pipeline itself (as the CLI) reads with the same options, worded for the API as the
    service words it: (profile, warnings)."""
    path = tmp_path / filename
    path.write_bytes(data)
    found = profile(load_events(path, ReadOptions(**{OPTION_OF[k]: v for k, v in options.items()})))
    warnings = found.pop("warnings")
    return json.loads(json.dumps(api_worded(found))), api_worded(warnings)


def test_every_reading_option_is_a_described_form_field_of_both_uploads(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    for path, name in ((DATASETS, "DatasetForm"), ("/api/v1/bulk-jobs", "BulkForm")):
        body = spec["paths"][path]["post"]["requestBody"]["content"]
        assert body == {"multipart/form-data": {"schema": {"$ref": f"#/components/schemas/{name}"}}}
        props = schemas[name]["properties"]
        assert set(FIELDS) <= set(props) and "file" in props and schemas[name]["required"] == ["file"]
        assert all(props[f].get("description") for f in FIELDS)
        assert props["decimal"]["enum"] == ["dot", "comma"]
        assert props["amount_is"]["enum"] == ["total", "unit_price"]
        assert props["duplicates"]["enum"] == ["warn", "keep", "drop", "error"]
        assert (props["max_bad_rows"]["minimum"], props["max_bad_rows"]["maximum"]) == (0, 1)
        assert "--date-format" in props["date_format"]["description"]  # the CLI twin is named
    assert "read_options" in schemas["DatasetOut"]["properties"]
    assert "read_options" in schemas["BulkJobOut"]["properties"]


@pytest.mark.parametrize(
    "data,filename,options,check",
    [
        (COMMA, "comma.csv", {"decimal": "comma"}, lambda p: p["amount_total"] == 4984.56),
        (
            STRIPE,
            "stripe.csv",
            {"column_mapping": {"event_date": "Zeitpunkt (UTC)"}, "event_types": {"charge": "purchase"}},
            lambda p: p["customers"] == 3 and p["columns"]["event_date"] == "Zeitpunkt (UTC)",
        ),
        (BAD_ROWS, "bad.csv", {"max_bad_rows": 0.2}, lambda p: p["rows_dropped"] == 2 and p["rows"] == 18),
        (DUPLICATES, "dup.csv", {"duplicates": "drop"}, lambda p: p["duplicate_rows"] == 2 and p["rows"] == 11),
        (AMBIGUOUS, "amb.csv", {"date_format": "%d/%m/%Y"}, lambda p: p["first_date"] == "2023-02-01"),
        (CP1252, "cp.csv", {"encoding": "cp1252"}, lambda p: {"Café", "Thé"} <= {c["category"] for c in p["top_categories"]}),
        (workbook(), "shop.xlsx", {"sheet": "Events"}, lambda p: p["rows"] == 2),
        (UNIT_PRICES, "prices.csv", {"amount_is": "total"}, lambda p: p["rows"] == 2),
    ],
    ids=["decimal", "column_mapping+event_types", "max_bad_rows", "duplicates", "date_format", "encoding", "sheet", "amount_is"],
)  # fmt: skip
def test_each_option_is_stored_and_the_file_read_with_it(
    upload_dataset, client, org, wait, tmp_path, data, filename, options, check
):
    r = upload_dataset(client, org["api_key"], data, filename, **as_form(options))
    assert r.status_code == 202, r.get_json()
    body = wait(r.headers["Location"], org["api_key"])
    assert body["status"] == "succeeded", body
    assert body["read_options"] == options
    expected, warnings = library_reading(tmp_path, data, filename, options)
    assert body["profile"] == expected and body["warnings"] == warnings
    assert check(body["profile"]), body["profile"]


def test_event_types_make_charges_purchases(upload_dataset, client, org, wait, tmp_path):
    """The Stripe-like file: mapped columns and event types, the purchases in the profile."""
    options = {"column_mapping": {"event_date": "Zeitpunkt (UTC)"}, "event_types": {"charge": "purchase"}}
    r = upload_dataset(client, org["api_key"], STRIPE, "stripe.csv", **as_form(options))
    body = wait(r.headers["Location"], org["api_key"])
    assert body["status"] == "succeeded", body
    assert body["profile"]["event_types"]["purchase"] == 3 and "charge" not in body["profile"]["event_types"]


@pytest.mark.parametrize(
    "data,filename,said,not_said",
    [
        (AMBIGUOUS, "amb.csv", "pass date_format=%d/%m/%Y or %m/%d/%Y", "--date-format"),
        (STRIPE, "stripe.csv", 'map one with column_mapping {"event_date": "NAME"}', "--column"),
        (DUPLICATES, "dup.csv", "pass duplicates=drop, or duplicates=keep", "--duplicates"),
        (workbook(), "shop.xlsx", "no customer id column", "--"),
    ],
)
def test_a_refusal_names_the_api_field(upload_dataset, client, org, wait, data, filename, said, not_said):
    r = upload_dataset(client, org["api_key"], data, filename)
    body = wait(r.headers["Location"], org["api_key"])
    assert body["status"] == "failed" and said in body["errors"][0] and not_said not in body["errors"][0], (
        body
    )


def test_a_warning_names_the_api_field(upload_dataset, client, org, wait):
    r = upload_dataset(client, org["api_key"], CP1252, "cp.csv")
    body = wait(r.headers["Location"], org["api_key"])
    assert body["status"] == "succeeded" and body["read_options"] == {}
    assert any("the encoding field" in w for w in body["warnings"]), body["warnings"]
    assert not any("--encoding" in w for w in body["warnings"])


@pytest.mark.parametrize(
    "form,field",
    [
        ({"decimal": "semicolon"}, "decimal"),
        ({"amount_is": "net"}, "amount_is"),
        ({"duplicates": "maybe"}, "duplicates"),
        ({"max_bad_rows": "2"}, "max_bad_rows"),
        ({"max_bad_rows": "a lot"}, "max_bad_rows"),
        ({"encoding": "klingon"}, "encoding"),
        ({"event_types": '{"charge": "sale"}'}, "event_types"),
        ({"event_types": "charge=purchase"}, "event_types"),
        ({"column_mapping": '{"kunde": "customer_id"}'}, "column_mapping"),
        ({"column_mapping": '["customer_id"]'}, "column_mapping"),
        ({"decimals": "comma"}, "decimals"),
        ({"date_format": "%Q%Q"}, "date_format"),
        ({"date_format": "%Y-%m-%"}, "date_format"),
    ],
)
def test_an_invalid_option_answers_422_naming_the_field(upload_dataset, client, org, form, field):
    r = upload_dataset(client, org["api_key"], COMMA, "comma.csv", **form)
    error = r.get_json()["error"]
    assert r.status_code == 422 and field in error["details"]["multipart"], error
    assert error["message"].startswith(f"the request is not valid: {field}"), error


def test_an_empty_field_counts_as_not_sent(upload_dataset, client, org):
    r = upload_dataset(client, org["api_key"], COMMA, "comma.csv", column_mapping="", decimal="")
    assert r.status_code == 202, r.get_json()


def test_a_dataset_stored_before_read_options_is_read_with_its_column_mapping(app, org):
    from hcl_server.db import Dataset
    from hcl_server.services.datasets import dataset_options

    old = Dataset(column_mapping={"customer_id": "Kunde"}, read_options=None)
    assert dataset_options(old) == ReadOptions(column_mapping={"customer_id": "Kunde"})
    new = Dataset(column_mapping=None, read_options={"decimal": "comma", "max_bad_share": 0.2})
    assert dataset_options(new) == ReadOptions(decimal="comma", max_bad_share=0.2)
