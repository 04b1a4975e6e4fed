"""Bulk jobs, stored predictions, downloads, customers and templates, with a real worker."""

from __future__ import annotations

import io
import json
import time

import openpyxl
import pandas as pd
import pytest

BULK = "/api/v1/bulk-jobs"


def _xlsx_download(client, key: dict, job_id: str):
    """The job's .xlsx download, once written (it is written after the job succeeds)."""
    for _ in range(120):
        xlsx = client.get(f"{BULK}/{job_id}/download", headers=key, query_string={"format": "xlsx"})
        if xlsx.status_code != 409:
            return xlsx
        time.sleep(0.5)
    return xlsx


def test_bulk_job_summary(scored):
    assert scored["total_customers"] == 401 and scored["name"] == "nightly" and scored["model_version"] == 1
    summary = scored["summary"]
    assert sum(summary["risk_distribution"].values()) == 401
    assert 0 < summary["avg_churn_probability"] < 1 and summary["predicted_spend_total"] > 0
    assert scored["progress"] == 1.0 and scored["stage"] == "done"


def test_the_summary_sums_each_categorys_predicted_spend_over_every_partition(client, org, scored):
    csv = client.get(f"{BULK}/{scored['id']}/download", headers={"X-API-Key": org["api_key"]})
    frame = pd.read_csv(io.BytesIO(csv.data))
    columns = [c for c in frame.columns if c.startswith("spend_") and c != "spend_total"]
    by_category = scored["summary"]["predicted_spend_by_category"]
    assert columns and set(by_category) == {c.removeprefix("spend_") for c in columns}
    for column in columns:  # 3 partitions: a sum of one partition only would be far off
        assert by_category[column.removeprefix("spend_")] == pytest.approx(frame[column].sum(), abs=0.05)


def test_stored_predictions_page_filter_sort(client, org, scored):
    key = {"X-API-Key": org["api_key"]}
    url = f"{BULK}/{scored['id']}/predictions"
    page = client.get(url, headers=key, query_string={"limit": 1000}).get_json()
    assert page["total"] == 401 and len(page["predictions"]) == 401  # one row per customer, no duplicates
    probs = [p["churn_probability"] for p in page["predictions"]]
    assert probs == sorted(probs, reverse=True)
    low = client.get(url, headers=key, query_string={"risk_segment": "Low", "sort": "spend_total"}).get_json()
    assert low["total"] == scored["summary"]["risk_distribution"]["Low"]
    assert all(p["risk_segment"] == "Low" for p in low["predictions"])
    spend = [p["predicted_spend"]["total"] for p in low["predictions"]]
    assert spend == sorted(spend)
    bad = client.get(url, headers=key, query_string={"sort": "name"})
    assert bad.status_code == 422


def test_a_download_leaves_no_temporary_copy_behind(client, org, scored):
    import tempfile
    from pathlib import Path

    before = set(Path(tempfile.gettempdir()).glob("hcl-download-*"))
    r = client.get(f"{BULK}/{scored['id']}/download", headers={"X-API-Key": org["api_key"]})
    assert r.status_code == 200 and r.get_data().startswith(b"customer_id,")
    r.close()
    assert set(Path(tempfile.gettempdir()).glob("hcl-download-*")) <= before


def test_downloads_have_the_cli_columns_and_no_formulas(client, org, scored):
    key = {"X-API-Key": org["api_key"]}
    csv = client.get(f"{BULK}/{scored['id']}/download", headers=key)
    assert csv.status_code == 200
    frame = pd.read_csv(io.BytesIO(csv.data), dtype={"customer_id": str})
    cats = [c for c in frame.columns if c.startswith("spend_") and c != "spend_total"]
    assert (
        list(frame.columns)
        == ["customer_id", "churn_probability", "risk_segment", "spend_total", *cats, "reasons"]
        and cats
    )
    assert len(frame) == 401 and frame["customer_id"].is_unique
    # The stored predictions carry the same reasons as the file, as lists.
    page = client.get(f"{BULK}/{scored['id']}/predictions", headers=key, query_string={"limit": 1000})
    stored = {p["customer_id"]: p["reasons"] for p in page.get_json()["predictions"]}
    written = dict(zip(frame["customer_id"], frame["reasons"].fillna("")))
    common = stored.keys() & written.keys()  # all but the id the file escapes as a formula
    assert len(common) == 400
    assert all(stored[c] == (written[c].split("; ") if written[c] else []) for c in common)
    assert all(len(r) <= 3 for r in stored.values()) and sum(map(bool, stored.values())) > 300
    assert '\'=HYPERLINK("http://x")' in set(frame["customer_id"])
    xlsx = _xlsx_download(client, key, scored["id"])
    assert xlsx.status_code == 200, xlsx.get_json()
    ws = openpyxl.load_workbook(io.BytesIO(xlsx.data)).active
    ids = [row[0] for row in ws.iter_rows(min_row=2, values_only=False)]
    assert all(c.data_type == "s" for c in ids)
    # A typed text cell is never run as a formula: the .xlsx holds the id as it was sent.
    assert '=HYPERLINK("http://x")' in {c.value for c in ids}
    # Probabilities to 4 decimals and money to cents, in the file as in the stored predictions.
    text = csv.get_data(as_text=True).splitlines()[1:]
    assert all(len(line.split(",")[1].partition(".")[2]) <= 4 for line in text[:200])
    assert (frame["spend_total"] * 100).round(6).mod(1).eq(0).all()


def test_category_spends_add_up_to_the_total_everywhere_they_are_written(client, org, scored):
    """Issue 14: the CSV, the .xlsx, the stored predictions and a customer's latest prediction
    each carry categories (with "other") that sum to spend_total, within each one's cent."""
    key = {"X-API-Key": org["api_key"]}
    frame = pd.read_csv(
        io.BytesIO(client.get(f"{BULK}/{scored['id']}/download", headers=key).data),
        dtype={"customer_id": str},
    )
    cats = [c for c in frame.columns if c.startswith("spend_") and c != "spend_total"]
    assert "spend_other" in cats and frame["spend_total"].sum() > 0
    assert (frame[cats].sum(axis=1) - frame["spend_total"]).abs().max() <= 0.005 * len(cats) + 1e-9
    xlsx = _xlsx_download(client, key, scored["id"])
    assert xlsx.status_code == 200, xlsx.get_json()
    rows = list(openpyxl.load_workbook(io.BytesIO(xlsx.data)).active.iter_rows(values_only=True))
    sheet = pd.DataFrame(rows[1:], columns=rows[0])
    assert len(sheet) == len(frame)
    assert (
        sheet[cats].astype(float).sum(axis=1) - sheet["spend_total"].astype(float)
    ).abs().max() <= 0.005 * len(cats) + 1e-9
    page = client.get(
        f"{BULK}/{scored['id']}/predictions", headers=key, query_string={"limit": 1000}
    ).get_json()
    latest = client.get("/api/v1/customers/C0000003/prediction", headers=key).get_json()
    for spend in [p["predicted_spend"] for p in page["predictions"]] + [latest["predicted_spend"]]:
        spend = dict(spend)
        total = spend.pop("total")
        assert len(spend) == len(cats) and abs(sum(spend.values()) - total) <= 0.005 * len(cats) + 1e-9


def test_customer_latest_prediction(client, org, scored):
    key = {"X-API-Key": org["api_key"]}
    r = client.get("/api/v1/customers/C0000003/prediction", headers=key)
    assert r.status_code == 200 and r.get_json()["job_id"] == scored["id"]
    assert client.get("/api/v1/customers/nobody/prediction", headers=key).status_code == 404


def test_list_cancel_and_other_organizations(client, org, make_org, scored, upload, log_bytes):
    key = {"X-API-Key": org["api_key"]}
    listing = client.get(BULK, headers=key, query_string={"limit": 1}).get_json()
    assert listing["total"] >= 1 and len(listing["bulk_jobs"]) == 1 and listing["limit"] == 1
    assert client.post(f"{BULK}/{scored['id']}/cancel", headers=key).status_code == 409
    started = upload(client, BULK, org["api_key"], log_bytes)
    job_id = started.get_json()["id"]
    cancelled = client.post(f"{BULK}/{job_id}/cancel", headers=key)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    time.sleep(3)
    assert client.get(f"{BULK}/{job_id}", headers=key).get_json()["status"] == "cancelled"
    other = {"X-API-Key": make_org("Elsewhere")["api_key"]}
    for method, path in (("get", ""), ("get", "/predictions"), ("get", "/download"), ("post", "/cancel")):
        assert getattr(client, method)(f"{BULK}/{scored['id']}{path}", headers=other).status_code == 404
    assert client.get("/api/v1/customers/C0000003/prediction", headers=other).status_code == 404
    assert client.get(BULK, headers=other).get_json()["total"] == 0
    r = upload(client, BULK, other["X-API-Key"], log_bytes)
    assert r.status_code == 409 and "no production model" in r.get_json()["error"]["message"]


def test_bad_bulk_file_fails_with_a_clear_error(client, org, upload, wait, trained):
    r = upload(client, BULK, org["api_key"], b"who,when\nA,2020-01-01\n")
    assert r.status_code == 202
    body = wait(r.headers["Location"], org["api_key"])
    assert body["status"] == "failed" and "no customer id column" in body["error"]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_templates_read_back_as_event_logs(client, org, fmt, tmp_path):
    from ml_pipeline.data.eventlog import load_events

    r = client.get(f"/api/v1/templates/events.{fmt}", headers={"X-API-Key": org["api_key"]})
    assert r.status_code == 200
    path = tmp_path / f"events.{fmt}"
    path.write_bytes(r.data)
    log = load_events(path)
    assert log.n_customers == 2 and "refund" in log.event_types
    assert client.get(f"/api/v1/templates/events.{fmt}").status_code == 401


def german_layout(log_bytes: bytes) -> bytes:
    """The shared log as a German shop exports it: semicolons, its own headers, decimal commas
    with three decimals ('12,500' is 12.5 with a comma, 12500 with a dot)."""
    frame = pd.read_csv(io.BytesIO(log_bytes), dtype=str, keep_default_na=False)
    amounts = frame["amount"].astype(float).map(lambda x: f"{x:.3f}".replace(".", ","))
    frame = frame.assign(amount=amounts).rename(
        columns={"customer_id": "Kunde", "event_date": "Created (UTC)"}
    )
    return frame.to_csv(index=False, sep=";").encode()


def test_bulk_job_reads_the_file_with_the_options_given(client, org, upload, wait, scored, log_bytes):
    """The same log in another layout, read with column_mapping and decimal=comma, scores the same."""
    options = {"column_mapping": {"customer_id": "Kunde", "event_date": "Created (UTC)"}, "decimal": "comma"}
    form = {"column_mapping": json.dumps(options["column_mapping"]), "decimal": "comma"}
    r = upload(client, BULK, org["api_key"], german_layout(log_bytes), "export.csv", **form)
    assert r.status_code == 202, r.get_json()
    body = wait(r.headers["Location"], org["api_key"])
    assert body["status"] == "succeeded", body
    assert body["read_options"] == options and body["total_customers"] == scored["total_customers"]
    assert body["summary"]["risk_distribution"] == scored["summary"]["risk_distribution"]
    assert body["summary"]["predicted_spend_total"] == pytest.approx(
        scored["summary"]["predicted_spend_total"]
    )


def test_bulk_job_drops_bad_rows_up_to_max_bad_rows(client, org, upload, wait, trained):
    rows = "".join(f"c{i},2023-01-{i + 1:02d},5\n" for i in range(18))
    data = f"customer_id,event_date,amount\n{rows}x,someday,5\ny,never,5\n".encode()
    refused = wait(upload(client, BULK, org["api_key"], data).headers["Location"], org["api_key"])
    assert refused["status"] == "failed" and "2 of 20 rows are bad" in refused["error"], refused
    form = {"max_bad_rows": "0.2", "event_types": '{"charge": "purchase"}'}
    body = wait(upload(client, BULK, org["api_key"], data, **form).headers["Location"], org["api_key"])
    assert body["status"] == "succeeded" and body["total_customers"] == 18, body
    assert body["read_options"] == {"max_bad_rows": 0.2, "event_types": {"charge": "purchase"}}
    assert any("dropped 2 row(s)" in w for w in body["warnings"]), body["warnings"]


def test_bulk_refusal_names_the_api_field(client, org, upload, wait, trained):
    data = b"customer_id,event_date,amount\na,01/02/2023,5\nb,01/02/2023,6\n"
    body = wait(upload(client, BULK, org["api_key"], data).headers["Location"], org["api_key"])
    assert body["status"] == "failed" and "pass date_format=%d/%m/%Y or %m/%d/%Y" in body["error"], body
    assert "--" not in body["error"]
    r = upload(client, BULK, org["api_key"], data, date_format="%d/%m/%Y")
    assert wait(r.headers["Location"], org["api_key"])["status"] == "succeeded"


def test_bulk_upload_refuses_an_invalid_option(client, org, upload, log_bytes, trained):
    r = upload(client, BULK, org["api_key"], log_bytes, duplicates="maybe")
    error = r.get_json()["error"]
    assert r.status_code == 422 and "duplicates" in error["details"]["multipart"], error
    assert error["message"].startswith("the request is not valid: duplicates: Must be one of"), error


def test_a_date_typed_years_ahead_is_named_and_left_out(
    client, org, upload, upload_dataset, wait, trained, log_bytes
):
    """The dataset's profile and a bulk job name the row; the job's as-of stays after the real last day."""
    frame = pd.read_csv(io.BytesIO(log_bytes), dtype=str, keep_default_na=False)
    last = pd.Timestamp(frame["event_date"].max())
    typo = frame.iloc[[5]].assign(event_date=(last.replace(year=last.year + 10)).strftime("%Y-%m-%d"))
    data = pd.concat([frame, typo]).to_csv(index=False).encode()
    row = f"row {len(frame) + 2} "
    key = org["api_key"]
    ds = wait(upload_dataset(client, key, data).headers["Location"], key)
    assert ds["status"] == "succeeded" and ds["profile"]["last_date"] == last.strftime("%Y-%m-%d")
    assert (
        any(row in w for w in ds["warnings"])
        and ds["profile"]["implausible_rows"][0]["row"] == len(frame) + 2
    )
    job = wait(upload(client, BULK, key, data).headers["Location"], key)
    assert job["status"] == "succeeded", job
    assert job["as_of"] == (last + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    assert sum(row in w for w in job["warnings"]) == 1 and job["total_customers"] == 401


def test_an_excel_file_that_fails_says_why_and_the_csv_stays(app, client, org, scored):
    """The Excel task of a job whose CSV has gone from storage: the job stays succeeded, its answer
    says the Excel file failed and why, the .xlsx download says so, the CSV is still served."""
    from hcl_server.db import Job
    from hcl_server.db.models import new_id
    from hcl_server.extensions import db
    from hcl_server.services import bulk_scoring
    from hcl_server.services.bulk import result_prefix
    from hcl_server.storage import storage

    key = {"X-API-Key": org["api_key"]}
    assert _xlsx_download(client, key, scored["id"]).status_code == 200  # the worker's own is done
    with app.app_context():
        job = db.session.get(Job, scored["id"])
        copy = new_id()
        db.session.add(
            Job(
                id=copy,
                organization_id=job.organization_id,
                kind="bulk",
                status="succeeded",
                model_version_id=job.model_version_id,
                params=job.params,
                result={
                    **job.result,
                    "xlsx": "pending",
                    "files": {"csv": job.result["files"]["csv"], "xlsx": None},
                },
            )
        )
        db.session.commit()
        assert not storage().exists(f"{result_prefix(db.session.get(Job, copy))}/results/predictions.csv")
        bulk_scoring.write_excel(bulk_scoring.excel_pending(copy))
    body = client.get(f"{BULK}/{copy}", headers=key).get_json()
    assert body["status"] == "succeeded" and body["xlsx"] == "failed"
    assert body["xlsx_error"] == "internal error while writing the Excel file; download format=csv"
    xlsx = client.get(f"{BULK}/{copy}/download", headers=key, query_string={"format": "xlsx"})
    assert xlsx.status_code >= 500 and "download format=csv" in xlsx.get_json()["error"]["message"]
    assert client.get(f"{BULK}/{copy}/download", headers=key).status_code == 200
