"""The OpenAPI document is valid and tells the truth about the API, and /docs works offline
(issue 13, "a valid, truthful contract"). tests/service/test_fuzz_api.py checks the answers of
thousands of generated requests against the same document."""

from __future__ import annotations

import re
import time

import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import OpenAPIV30SpecValidator

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
READING_FIELDS = {
    "column_mapping",
    "event_types",
    "date_format",
    "decimal",
    "amount_is",
    "encoding",
    "sheet",
    "max_bad_rows",
    "duplicates",
}


@pytest.fixture(scope="module")
def document(app) -> dict:
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield path, method, operation


def deref(document: dict, node: dict) -> dict:
    """Follow a local $ref (#/components/...) to what it names."""
    while isinstance(node, dict) and "$ref" in node:
        target = document
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def test_the_document_passes_openapi_spec_validator(document):
    errors = [f"{list(e.path)}: {e.message}" for e in OpenAPIV30SpecValidator(document).iter_errors()]
    assert errors == []
    assert document["openapi"].startswith("3.0")


def test_every_error_is_documented_with_the_schema_the_api_answers(document, client):
    """No flask-smorest "Error" schema and no catch-all default: each /api/v1 operation lists its
    error statuses, each with the API's {"error": {...}} schema; every one answers 401 without a
    key and 503 while the database is down; each that takes arguments answers 422."""
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"] and set(error["properties"]) == {"error"}
    body = deref(document, error["properties"]["error"])
    assert set(body["properties"]) == {"status", "code", "message", "details"}
    assert set(body["required"]) == {"status", "code", "message"}

    seen = 0
    for path, method, operation in operations(document):
        if not path.startswith("/api/v1/"):
            continue
        seen += 1
        responses = operation["responses"]
        assert "default" not in responses, (method, path)
        assert {"401", "503"} <= set(responses), (method, path)
        if "requestBody" in operation or any(p["in"] == "query" for p in operation.get("parameters", [])):
            assert "422" in responses, (method, path)
        for status, response in responses.items():
            if int(status) >= 400:
                content = deref(document, response)["content"]
                assert content == {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}, (
                    method,
                    path,
                    status,
                )
    assert seen >= 19

    # What the API answers is what the document says.
    answer = client.get("/api/v1/datasets").get_json()
    OAS30Validator({"$ref": "#/components/schemas/Error", "components": document["components"]}).validate(
        answer
    )
    assert answer["error"]["status"] == 401 and answer["error"]["code"] == "unauthorized"


def test_statuses_each_operation_can_answer(document):
    """The statuses below the blueprint-wide 401/503 that each kind of operation documents."""
    responses = {(m, p): set(o["responses"]) for p, m, o in operations(document)}
    assert {"400", "413", "415", "422", "429"} <= responses[("post", "/api/v1/datasets")]
    assert {"400", "409", "413", "415", "422", "429"} <= responses[("post", "/api/v1/bulk-jobs")]
    assert {"400", "404", "409", "413", "422", "429"} <= responses[("post", "/api/v1/training-jobs")]
    assert {"400", "409", "413", "422"} <= responses[("post", "/api/v1/predict")]
    assert {"404", "409", "422", "500"} <= responses[("get", "/api/v1/bulk-jobs/{job_id}/download")]
    assert {"404", "409"} <= responses[("post", "/api/v1/bulk-jobs/{job_id}/cancel")]
    assert {"404", "409"} <= responses[("post", "/api/v1/training-jobs/{job_id}/cancel")]
    for key, statuses in responses.items():
        if "{" in key[1]:
            assert "404" in statuses, key
    # Every operation can meet its key's rate limit (RATE_LIMIT); what starts work, the
    # organization's job limit too.
    assert all("429" in statuses for statuses in responses.values())
    for status in ("429", "503"):
        assert (
            "Retry-After"
            in document["components"]["responses"][
                {"429": "TOO_MANY_REQUESTS", "503": "SERVICE_UNAVAILABLE"}[status]
            ]["headers"]
        )


@pytest.mark.parametrize("path", ["/api/v1/datasets", "/api/v1/bulk-jobs"])
def test_an_upload_is_one_multipart_body_with_every_field(document, path):
    operation = document["paths"][path]["post"]
    assert "parameters" not in operation or all(p["in"] != "formData" for p in operation["parameters"])
    content = operation["requestBody"]["content"]
    assert list(content) == ["multipart/form-data"]
    form = deref(document, content["multipart/form-data"]["schema"])
    assert form["required"] == ["file"]
    assert form["properties"]["file"] == {
        "description": form["properties"]["file"]["description"],
        "type": "string",
        "format": "binary",
    }
    assert READING_FIELDS | {"file", "name"} <= set(form["properties"])
    assert operation["responses"]["202"]["headers"]["Location"]


def test_downloads_document_their_media_types(document):
    binary = {"schema": {"type": "string", "format": "binary"}}
    download = document["paths"]["/api/v1/bulk-jobs/{job_id}/download"]["get"]["responses"]["200"]
    assert download["content"] == {"text/csv": binary, XLSX: binary}
    templates = document["paths"]
    assert templates["/api/v1/templates/events.csv"]["get"]["responses"]["200"]["content"] == {
        "text/csv": binary
    }
    assert templates["/api/v1/templates/events.xlsx"]["get"]["responses"]["200"]["content"] == {XLSX: binary}


def test_docs_and_swagger_ui_are_served_by_the_app(client):
    """/docs names no external URL: its stylesheet and scripts are the app's own, served from the
    pinned swagger-ui files, and the validator badge (an image from the internet) is off."""
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.I), html
    assert '"validatorUrl": null' in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert {a.rsplit("/", 1)[-1] for a in assets} >= {
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
    }
    for asset in assets:
        assert asset.startswith("/docs/swagger-ui/"), asset
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert response.mimetype == ("text/css" if asset.endswith(".css") else "text/javascript"), asset
        assert len(response.data) > 10_000, asset
    assert b"SwaggerUIBundle" in client.get("/docs/swagger-ui/swagger-ui-bundle.js").data
    # The page's spec URL is the app's document.
    assert 'url: "/api/v1/openapi.json"' in html


def conforms(document: dict, method: str, template: str, response) -> None:
    """Assert that an answer is one the document lists for the operation: its status, its media
    type, and (for JSON) its body against the schema, by the OpenAPI 3.0 rules."""
    operation = document["paths"][template][method]
    where = f"{method.upper()} {template} {response.status_code}"
    assert str(response.status_code) in operation["responses"], where
    if response.status_code == 204:  # no content, so no media type to check
        assert response.data == b"", where
        return
    content = deref(document, operation["responses"][str(response.status_code)]).get("content", {})
    assert response.mimetype in content, (where, response.mimetype, list(content))
    if response.mimetype == "application/json":
        schema = {**content["application/json"]["schema"], "components": document["components"]}
        errors = [
            f"{list(e.path)}: {e.message}" for e in OAS30Validator(schema).iter_errors(response.get_json())
        ]
        assert not errors, (where, errors[:5])


def test_real_answers_match_the_document(app, document, org, trained, log_bytes, upload, wait):
    """The fuzz cannot reach a finished dataset, job or model: here every operation answers about
    real ones (a trained model, a scored bulk job) and each answer is checked against the document."""
    client = app.test_client()
    h = {"X-API-Key": org["api_key"]}
    dataset, job = trained["dataset"], trained["job"]

    def check(method: str, template: str, url: str, expected: int, **kwargs):
        response = getattr(client, method)(url, headers=h, **kwargs)
        assert response.status_code == expected, (
            url,
            response.status_code,
            response.get_data(as_text=True)[:300],
        )
        conforms(document, method, template, response)
        return response

    check("get", "/api/v1/datasets", "/api/v1/datasets", 200)
    check("get", "/api/v1/datasets/{dataset_id}", f"/api/v1/datasets/{dataset['id']}", 200)
    check("get", "/api/v1/datasets/{dataset_id}", "/api/v1/datasets/nope", 404)
    check("get", "/api/v1/training-jobs/{job_id}", f"/api/v1/training-jobs/{job['id']}", 200)
    check("post", "/api/v1/training-jobs/{job_id}/cancel", f"/api/v1/training-jobs/{job['id']}/cancel", 409)
    check(
        "post",
        "/api/v1/training-jobs",
        "/api/v1/training-jobs",
        400,
        data="{",
        content_type="application/json",
    )
    check("get", "/api/v1/models", "/api/v1/models", 200)
    check("get", "/api/v1/models/{version}", "/api/v1/models/1", 200)
    check("post", "/api/v1/models/{version}/promote", "/api/v1/models/1/promote", 200)
    check(
        "put", "/api/v1/models/aliases/{alias}", "/api/v1/models/aliases/contract", 200, json={"version": 1}
    )
    check("get", "/api/v1/models/aliases", "/api/v1/models/aliases", 200)
    check("get", "/api/v1/models/history", "/api/v1/models/history?alias=contract", 200)
    check("delete", "/api/v1/models/aliases/{alias}", "/api/v1/models/aliases/contract", 204)
    check("post", "/api/v1/models/rollback", "/api/v1/models/rollback", 409)  # version 1 was the first
    check("get", "/api/v1/models/{version}/outcomes", "/api/v1/models/1/outcomes", 200)
    check("get", "/api/v1/models/{version}/outcomes", "/api/v1/models/999/outcomes", 404)
    check("get", "/api/v1/settings/auto-promotion", "/api/v1/settings/auto-promotion", 200)
    check(
        "put",
        "/api/v1/settings/auto-promotion",
        "/api/v1/settings/auto-promotion",
        200,
        json={"enabled": False},
    )
    check(
        "put", "/api/v1/settings/auto-promotion", "/api/v1/settings/auto-promotion", 422, json={"margin": -1}
    )
    customer = {
        "customer_id": "c1",
        "as_of": "2018-01-01",
        "transactions": [{"event_date": "2017-06-01", "amount": 4}],
    }
    check("post", "/api/v1/predict", "/api/v1/predict", 200, json=customer)
    check("post", "/api/v1/predict/batch", "/api/v1/predict/batch", 200, json={"customers": [customer]})
    check(
        "post",
        "/api/v1/predict/batch",
        "/api/v1/predict/batch",
        422,
        json={"customers": [customer, customer]},
    )

    started = upload(client, "/api/v1/bulk-jobs", org["api_key"], log_bytes, "contract.csv")
    conforms(document, "post", "/api/v1/bulk-jobs", started)
    assert started.status_code == 202 and started.headers["Location"]
    bulk = wait(started.headers["Location"], org["api_key"])
    assert bulk["status"] == "succeeded", bulk
    base = f"/api/v1/bulk-jobs/{bulk['id']}"
    check("get", "/api/v1/bulk-jobs", "/api/v1/bulk-jobs", 200)
    check("get", "/api/v1/bulk-jobs/{job_id}", base, 200)
    page = check(
        "get", "/api/v1/bulk-jobs/{job_id}/predictions", f"{base}/predictions?limit=5", 200
    ).get_json()
    customer_id = page["predictions"][0]["customer_id"]
    check(
        "get",
        "/api/v1/customers/{customer_id}/prediction",
        f"/api/v1/customers/{customer_id}/prediction",
        200,
    )
    check("get", "/api/v1/bulk-jobs/{job_id}/download", f"{base}/download?format=csv", 200)
    for _ in range(240):
        if client.get(base, headers=h).get_json()["xlsx"] != "pending":
            break
        time.sleep(0.5)
    check("get", "/api/v1/bulk-jobs/{job_id}/download", f"{base}/download?format=xlsx", 200)
    check("post", "/api/v1/bulk-jobs/{job_id}/cancel", f"{base}/cancel", 409)
    check("get", "/api/v1/bulk-jobs/{job_id}/outcomes", f"{base}/outcomes", 200)
    check("get", "/api/v1/bulk-jobs/{job_id}/outcomes", "/api/v1/bulk-jobs/nope/outcomes", 404)
    for _ in range(240):
        drift = check("get", "/api/v1/bulk-jobs/{job_id}/drift", f"{base}/drift", 200).get_json()
        if drift["status"] != "pending":
            break
        time.sleep(0.5)
    assert drift["status"] == "done" and drift["features"], drift
    check("get", "/api/v1/bulk-jobs/{job_id}", base, 200)  # with its drift alerts now
    check("get", "/api/v1/bulk-jobs/{job_id}/drift", "/api/v1/bulk-jobs/nope/drift", 404)
    thresholds = "/api/v1/settings/drift-thresholds"
    check("get", thresholds, thresholds, 200)
    check("put", thresholds, thresholds, 200, json={"feature_psi": 0.5})
    check("put", thresholds, thresholds, 422, json={"feature_psi": 0.5, "psi": 1})
    check("delete", thresholds, thresholds, 200)
    check("get", "/api/v1/templates/events.csv", "/api/v1/templates/events.csv", 200)
    check("get", "/api/v1/templates/events.xlsx", "/api/v1/templates/events.xlsx", 200)
