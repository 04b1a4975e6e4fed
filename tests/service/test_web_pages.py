"""The web pages' sign-in, through the app: the session cookie, CSRF, revocation, redirects."""

from __future__ import annotations

import re

import pytest

HTTPS = {"base_url": "https://localhost"}  # the session cookie is Secure: the test client needs https
# Over HTTPS, Flask-WTF also wants the form's page as the referrer (a browser sends it).
FORM = {**HTTPS, "headers": {"Referer": "https://localhost/app/"}}


def _token(page: bytes) -> str:
    return re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()


def _sign_in(client, key: str, next_path: str | None = None):
    token = _token(client.get("/app/sign-in", **HTTPS).data)
    url = "/app/sign-in" + (f"?next={next_path}" if next_path else "")
    return client.post(url, data={"api_key": key, "csrf_token": token}, **FORM)


@pytest.fixture
def web_org(make_org):
    return make_org("Web pages")


def test_a_page_asks_for_sign_in_and_a_key_signs_in(client, web_org):
    response = client.get("/app/", **HTTPS)
    assert response.status_code == 302 and response.location.endswith("/app/sign-in?next=/app/")
    bad = _sign_in(client, "hcl_not-a-key")
    assert bad.status_code == 401 and b"unknown or revoked" in bad.data
    good = _sign_in(client, web_org["api_key"], "/app/")
    assert good.status_code == 302 and good.location.endswith("/app/")
    cookie = good.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie
    assert web_org["api_key"] not in cookie  # the key's id, never the key
    page = client.get("/app/", **HTTPS)
    assert page.status_code == 200 and b"<h1>Dashboard</h1>" in page.data
    assert b"No production model yet" in page.data


def test_a_form_without_its_csrf_token_is_refused(client, web_org):
    response = client.post("/app/sign-in", data={"api_key": web_org["api_key"]}, **FORM)
    assert response.status_code == 400
    assert client.get("/app/", **HTTPS).status_code == 302  # not signed in


def test_revoking_the_key_signs_its_pages_out(app, client, make_org):
    org = make_org("Revoked pages")
    assert _sign_in(client, org["api_key"]).status_code == 302
    assert client.get("/app/", **HTTPS).status_code == 200
    keys = client.get("/api/v1/api-keys", headers={"X-API-Key": org["api_key"]}).get_json()["api_keys"]
    fresh = client.post("/api/v1/api-keys", headers={"X-API-Key": org["api_key"]}).get_json()
    revoked = client.post(f"/api/v1/api-keys/{keys[0]['id']}/revoke", headers={"X-API-Key": fresh["api_key"]})
    assert revoked.status_code == 200, revoked.data
    assert client.get("/app/", **HTTPS).status_code == 302


def test_sign_out_ends_the_session(client, web_org):
    _sign_in(client, web_org["api_key"])
    token = _token(client.get("/app/", **HTTPS).data)
    out = client.post("/app/sign-out", data={"csrf_token": token}, **FORM)
    assert out.status_code == 302 and out.location.endswith("/app/sign-in")
    assert client.get("/app/", **HTTPS).status_code == 302


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/api/v1/dashboard/summary"])
def test_sign_in_only_goes_on_to_these_pages(client, web_org, target):
    response = _sign_in(client, web_org["api_key"], target)
    assert response.status_code == 302 and response.location.endswith("/app/")


def test_a_bulk_job_needs_a_file_and_a_production_model(client, web_org, log_bytes):
    import io

    _sign_in(client, web_org["api_key"])
    page = client.get("/app/bulk-jobs", **HTTPS)
    assert page.status_code == 200 and b"Score a log" in page.data
    token = _token(page.data)
    empty = client.post("/app/bulk-jobs", data={"csrf_token": token}, **FORM)
    assert empty.status_code == 400 and b"Choose an event log file" in empty.data
    no_model = client.post(
        "/app/bulk-jobs",
        data={"csrf_token": token, "file": (io.BytesIO(log_bytes), "events.csv")},
        content_type="multipart/form-data",
        **FORM,
    )
    assert no_model.status_code == 400 and b"production model" in no_model.data


def test_errors_on_the_pages_are_pages(client, web_org):
    _sign_in(client, web_org["api_key"])
    missing = client.get("/app/bulk-jobs/no-such-job", **HTTPS)
    assert missing.status_code == 404 and missing.mimetype == "text/html"
    assert b"<h1>That could not be done</h1>" in missing.data
    expired = client.post("/app/sign-out", data={"csrf_token": "stale"}, **FORM)
    assert expired.status_code == 400 and b"The form has expired" in expired.data
    assert client.get("/app/no-such-page", **HTTPS).status_code == 404
    # The API keeps its JSON errors.
    api = client.get("/api/v1/bulk-jobs/no-such-job", headers={"X-API-Key": web_org["api_key"]})
    assert api.status_code == 404 and api.is_json


def test_the_upload_form_refuses_reading_options_it_cannot_read(client, web_org, log_bytes):
    import io

    _sign_in(client, web_org["api_key"])
    token = _token(client.get("/app/bulk-jobs", **HTTPS).data)
    for field, value, message in (
        ("column_mapping", "customer_id Kunde", b"column mapping: write one KEY=VALUE a line"),
        ("event_types", "charge", b"event types: write one KEY=VALUE a line"),
        ("column_mapping", "shoe_size=Kunde", b"shoe_size"),
    ):
        response = client.post(
            "/app/bulk-jobs",
            data={"csrf_token": token, "file": (io.BytesIO(log_bytes), "events.csv"), field: value},
            content_type="multipart/form-data",
            **FORM,
        )
        assert response.status_code == 400 and message in response.data, response.data[-600:]


def test_the_templates_download_as_the_api_serves_them(client, web_org):
    _sign_in(client, web_org["api_key"])
    for fmt in ("csv", "xlsx"):
        page = client.get(f"/app/templates/events.{fmt}", **HTTPS)
        api = client.get(f"/api/v1/templates/events.{fmt}", headers={"X-API-Key": web_org["api_key"]})
        assert page.status_code == api.status_code == 200
        assert page.headers["Content-Disposition"] == f"attachment; filename=events.{fmt}"
        if fmt == "csv":
            assert page.data == api.data and page.data.startswith(b"customer_id,event_date,amount")
    assert client.get("/app/templates/events.pdf", **HTTPS).status_code == 404
