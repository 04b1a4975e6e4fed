"""Datasets and training in the web pages, through Flask's test client with the real worker:
upload with reading options, the profile's decisions and warnings before training, the training
form's refusals, and a file that cannot be read saying what to do."""

from __future__ import annotations

import io
import re
import time

import pytest


def _ended(web, url: str, timeout: float = 120.0) -> dict:
    """Poll a page's state URL until it is no longer queued or running."""
    deadline = time.monotonic() + timeout
    while True:
        state = web.get(url).get_json()
        if state["status"] not in ("queued", "running"):
            return state
        assert time.monotonic() < deadline, f"{url} still {state['status']}"
        time.sleep(0.3)


def _upload(web, data: bytes, filename: str = "events.csv", **form):
    response = web.post("/app/datasets", {"file": (io.BytesIO(data), filename), **form}, "/app/datasets")
    assert response.status_code == 302, response.data[-800:]
    dataset_url = response.location.removeprefix("https://localhost")
    assert re.fullmatch(r"/app/datasets/[\w-]+", dataset_url)
    return dataset_url, _ended(web, f"{dataset_url}/state")


@pytest.fixture(scope="module")
def analyst(make_org):
    return make_org("Datasets pages")


def test_the_dataset_page_shows_the_reading_decisions_and_warnings_before_training(
    web_pages, analyst, log_bytes, worker
):
    web = web_pages(analyst["api_key"])
    renamed = log_bytes.replace(b"customer_id", b"Kunde", 1)
    url, state = _upload(web, renamed, name="shop log", column_mapping="customer_id=Kunde")
    assert state["status"] == "succeeded" and state["progress"] == 1.0, state
    page = web.get(url).data.decode()
    reading = page[page.index('id="reading"') : page.index("</table>", page.index('id="reading"'))]
    assert "customer_id ← Kunde" in reading and "event_date ← event_date" in reading
    assert "date format" in reading and "decimal separator" in reading
    counts = page[page.index('id="counts"') :]
    assert re.search(r'<th scope="row">customers</th><td>401</td>', counts)
    # the same warnings the API reports, before any training
    api = web.client.get(
        f"/api/v1/datasets/{url.rsplit('/', 1)[1]}", headers={"X-API-Key": analyst["api_key"]}
    )
    warnings = api.get_json()["warnings"]
    shown = re.findall(r"<li>(.*?)</li>", page[page.index('id="warnings-h"') : page.index('id="counts-h"')])
    assert len(shown) == len(warnings) and all(w[:40] in page for w in warnings)
    assert 'id="train-form"' in page and page.count('name="models"') == 4
    assert b"shop log" in web.get("/app/datasets").data


def test_the_training_form_refuses_what_the_api_refuses(web_pages, analyst, log_bytes, worker):
    web = web_pages(analyst["api_key"])
    url, state = _upload(web, log_bytes)
    assert state["status"] == "succeeded", state
    for form, message in (
        ({}, "model types: tick at least one of"),
        ({"models": "neural_net"}, "model types: tick at least one of"),
        ({"models": "linear", "horizon_days": "0"}, "spend horizon: a whole number of days from 1 to 365"),
        ({"models": "linear", "churn_horizon_days": "30.5"}, "churn horizon: a whole number"),
        ({"models": "linear", "horizon_days": "²"}, "spend horizon: a whole number"),  # isdigit, not int
    ):
        response = web.post(f"{url}/train", form, url)
        assert response.status_code == 400 and message in response.data.decode(), (form, response.data[-500:])
    assert b"Training jobs" in web.get("/app/models").data
    assert b"No training job yet" in web.get("/app/models").data


def test_a_file_the_reader_cannot_read_says_what_to_do(web_pages, analyst, log_bytes, worker):
    web = web_pages(analyst["api_key"])
    url, state = _upload(web, log_bytes.replace(b"customer_id", b"Zzz", 1))
    assert state["status"] == "failed" and state["progress"] == 0.0
    page = web.get(url).data.decode()
    error = re.search(r'<p id="error"[^>]*>(.*?)</p>', page, re.S).group(1)
    assert "customer_id" in error and "column_mapping" in error and "upload it again" in error
    assert 'id="train-form"' not in page
    # training it anyway (a form sent from an older page) says why not, on the page
    refused = web.post(f"{url}/train", {"models": "linear"}, url)
    assert refused.status_code == 400
    said = re.search(r'<p class="error" role="alert" id="form-error">(.*?)</p>', refused.data.decode(), re.S)
    assert said and "could not be read" in said.group(1)


def test_the_dataset_form_needs_a_file_and_readable_options(web_pages, analyst, log_bytes):
    web = web_pages(analyst["api_key"])
    empty = web.post("/app/datasets", {}, "/app/datasets")
    assert empty.status_code == 400 and b"Choose an event log file" in empty.data
    bad = web.post(
        "/app/datasets",
        {
            "file": (io.BytesIO(log_bytes), "events.csv"),
            "column_mapping": "customer_id Kunde",
            "name": "kept",
        },
        "/app/datasets",
    )
    assert bad.status_code == 400 and b"column mapping: write one KEY=VALUE a line" in bad.data
    # what was typed is still there, the options opened
    assert b'value="kept"' in bad.data and b"customer_id Kunde</textarea>" in bad.data
    assert b"<details open>" in bad.data
    for form, message in (
        ({"name": "n" * 301}, b"name: at most 300 characters, not 301"),
        ({"name": "a\x00b"}, b"name: remove the NUL character"),
        ({"date_format": "%Q%Q"}, b"is not a strptime format"),
        ({"date_format": "%d" * 51}, b"date format: at most 100 characters"),
    ):
        response = web.post(
            "/app/datasets", {"file": (io.BytesIO(log_bytes), "events.csv"), **form}, "/app/datasets"
        )
        assert response.status_code in (400, 422) and message in response.data, (form, response.data[-500:])


def test_another_organizations_dataset_and_training_job_are_not_found(
    web_pages, make_org, analyst, log_bytes
):
    web = web_pages(analyst["api_key"])
    url, _ = _upload(web, log_bytes)
    other = web_pages(make_org("Other pages")["api_key"])
    assert other.get(url).status_code == 404
    assert other.get("/app/training-jobs/no-such-job").status_code == 404
    assert other.post(f"{url}/train", {"models": "linear"}).status_code == 404


@pytest.mark.parametrize("suffix,reader", [(".xlsx", "xlsx"), (".parquet", "parquet"), (".csv.gz", "csv.gz")])
def test_each_kind_of_file_is_read_and_its_format_shown(
    web_pages, analyst, log_bytes, worker, tmp_path, suffix, reader
):
    import pandas as pd

    frame = pd.read_csv(io.BytesIO(log_bytes)).head(2000)
    path = tmp_path / f"events{suffix}"
    if suffix == ".xlsx":
        frame.to_excel(path, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, compression="gzip")
    web = web_pages(analyst["api_key"])
    url, state = _upload(web, path.read_bytes(), path.name, name=f"as {reader}")
    assert state["status"] == "succeeded", state
    page = web.get(url).data.decode()
    assert re.search(rf'<th scope="row">file format</th><td>{re.escape(reader)}</td>', page), page[-2000:]
