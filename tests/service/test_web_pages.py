"""The web pages' sign-in, through the app: the session cookie, CSRF, revocation, redirects."""

from __future__ import annotations

import re

import pytest


@pytest.fixture
def web_org(make_org):
    return make_org("Web pages")


@pytest.fixture
def web(web_pages):
    """A fresh test client of the pages, not signed in yet (conftest.WebPages)."""
    return web_pages()


def test_a_page_asks_for_sign_in_and_a_key_signs_in(web, web_org):
    response = web.get("/app/")
    assert response.status_code == 302 and response.location.endswith("/app/sign-in?next=/app/")
    bad = web.sign_in("hcl_not-a-key")
    assert bad.status_code == 401 and b"unknown or revoked" in bad.data
    good = web.sign_in(web_org["api_key"], "/app/")
    assert good.status_code == 302 and good.location.endswith("/app/")
    cookie = good.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie
    assert web_org["api_key"] not in cookie  # the key's id, never the key
    page = web.get("/app/")
    assert page.status_code == 200 and b"<h1>Dashboard</h1>" in page.data
    assert b"No production model yet" in page.data


def test_a_form_without_its_csrf_token_is_refused(web, web_org):
    response = web.client.post("/app/sign-in", data={"api_key": web_org["api_key"]}, **web.FORM)
    assert response.status_code == 400
    assert web.get("/app/").status_code == 302  # not signed in


def test_revoking_the_key_signs_its_pages_out(app, web, make_org):
    org = make_org("Revoked pages")
    assert web.sign_in(org["api_key"]).status_code == 302
    assert web.get("/app/").status_code == 200
    keys = web.client.get("/api/v1/api-keys", headers={"X-API-Key": org["api_key"]}).get_json()["api_keys"]
    fresh = web.client.post("/api/v1/api-keys", headers={"X-API-Key": org["api_key"]}).get_json()
    revoked = web.client.post(
        f"/api/v1/api-keys/{keys[0]['id']}/revoke", headers={"X-API-Key": fresh["api_key"]}
    )
    assert revoked.status_code == 200, revoked.data
    assert web.get("/app/").status_code == 302


def test_sign_out_ends_the_session(web, web_org):
    web.sign_in(web_org["api_key"])
    token = web.token(web.get("/app/").data)
    out = web.client.post("/app/sign-out", data={"csrf_token": token}, **web.FORM)
    assert out.status_code == 302 and out.location.endswith("/app/sign-in")
    assert web.get("/app/").status_code == 302


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/api/v1/dashboard/summary"])
def test_sign_in_only_goes_on_to_these_pages(web, web_org, target):
    response = web.sign_in(web_org["api_key"], target)
    assert response.status_code == 302 and response.location.endswith("/app/")


def test_a_bulk_job_needs_a_file_and_a_production_model(web, web_org, log_bytes):
    import io

    web.sign_in(web_org["api_key"])
    page = web.get("/app/bulk-jobs")
    assert page.status_code == 200 and b"Score a log" in page.data
    token = web.token(page.data)
    empty = web.client.post("/app/bulk-jobs", data={"csrf_token": token}, **web.FORM)
    assert empty.status_code == 400 and b"Choose an event log file" in empty.data
    no_model = web.client.post(
        "/app/bulk-jobs",
        data={"csrf_token": token, "file": (io.BytesIO(log_bytes), "events.csv")},
        content_type="multipart/form-data",
        **web.FORM,
    )
    assert no_model.status_code == 400 and b"production model" in no_model.data
    assert b"train one on the Datasets page" in no_model.data  # in the pages' words, not the API's
    for as_of in ("garbage", "\uff12\uff10\uff12\uff10-01-01"):  # fullwidth digits: the API refuses them too
        dated = web.client.post(
            "/app/bulk-jobs",
            data={"csrf_token": token, "file": (io.BytesIO(log_bytes), "events.csv"), "as_of": as_of},
            content_type="multipart/form-data",
            **web.FORM,
        )
        assert dated.status_code == 400 and b"score as of: a date as YYYY-MM-DD" in dated.data


def test_errors_on_the_pages_are_pages(web, web_org):
    web.sign_in(web_org["api_key"])
    missing = web.get("/app/bulk-jobs/no-such-job")
    assert missing.status_code == 404 and missing.mimetype == "text/html"
    assert b"<h1>That could not be done</h1>" in missing.data
    expired = web.client.post("/app/sign-out", data={"csrf_token": "stale"}, **web.FORM)
    assert expired.status_code == 400 and b"The form has expired" in expired.data
    assert web.get("/app/no-such-page").status_code == 404
    # The API keeps its JSON errors.
    api = web.client.get("/api/v1/bulk-jobs/no-such-job", headers={"X-API-Key": web_org["api_key"]})
    assert api.status_code == 404 and api.is_json


def test_the_upload_form_refuses_reading_options_it_cannot_read(web, web_org, log_bytes):
    import io

    web.sign_in(web_org["api_key"])
    token = web.token(web.get("/app/bulk-jobs").data)
    for field, value, message in (
        ("column_mapping", "customer_id Kunde", b"column mapping: write one KEY=VALUE a line"),
        ("event_types", "charge", b"event types: write one KEY=VALUE a line"),
        ("column_mapping", "shoe_size=Kunde", b"shoe_size"),
    ):
        response = web.client.post(
            "/app/bulk-jobs",
            data={"csrf_token": token, "file": (io.BytesIO(log_bytes), "events.csv"), field: value},
            content_type="multipart/form-data",
            **web.FORM,
        )
        assert response.status_code == 400 and message in response.data, response.data[-600:]


def test_the_templates_download_as_the_api_serves_them(web, web_org):
    web.sign_in(web_org["api_key"])
    for fmt in ("csv", "xlsx"):
        page = web.get(f"/app/templates/events.{fmt}")
        api = web.client.get(f"/api/v1/templates/events.{fmt}", headers={"X-API-Key": web_org["api_key"]})
        assert page.status_code == api.status_code == 200
        assert page.headers["Content-Disposition"] == f"attachment; filename=events.{fmt}"
        if fmt == "csv":
            assert page.data == api.data and page.data.startswith(b"customer_id,event_date,amount")
    assert web.get("/app/templates/events.pdf").status_code == 404


def test_a_bulk_jobs_page_charts_spend_by_category_and_its_models_page_shows_drift(
    web_pages, org, scored, drift_report
):
    report = drift_report(scored["id"], org["api_key"])
    assert report["status"] == "done", report
    web = web_pages(org["api_key"])
    page = web.get(f"/app/bulk-jobs/{scored['id']}").data.decode()
    chart = page[
        page.index('id="spend-by-category"') : page.index("</table>", page.index('id="spend-by-category"'))
    ]
    by_category = scored["summary"]["predicted_spend_by_category"]
    shown = re.findall(r'<th scope="row">(.*?)</th><td>([\d,.]+)</td>', chart)
    assert [c for c, _ in shown] == sorted(by_category, key=lambda c: -by_category[c])  # largest first
    assert all(float(v.replace(",", "")) == pytest.approx(by_category[c], abs=0.005) for c, v in shown)
    model = web.get("/app/models/1").data.decode()
    drift = model[model.index('id="drift"') :]
    for name in report["predictions"]:  # the version's latest report: this job's or a later one's
        assert f"prediction {name}</th>" in drift
    assert ('id="drift-alerts"' in model) or ('id="no-drift-alerts"' in model)
    assert 'id="realized"' in model or 'id="no-realized"' in model


def test_an_unexpected_error_on_a_page_is_a_page(web, web_org, monkeypatch):
    from hcl_server.services import dashboard

    def broken(org_id):
        raise RuntimeError("a fault injected into the dashboard's service")

    web.sign_in(web_org["api_key"])
    monkeypatch.setattr(dashboard, "summary", broken)
    response = web.get("/app/")
    assert response.status_code == 500 and response.mimetype == "text/html"
    assert b"Something went wrong on our side" in response.data and b"injected" not in response.data
