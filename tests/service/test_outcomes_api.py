"""Realized accuracy (issue 15, item 4) and the champion-challenger test with automatic promotion
(item 7), on the embedded defaults with the real worker.

An organization gets two versions on the session's trained bundle (1 production, 2 candidate),
bulk-scores the log's events before AS_OF, and holds shadow predictions of version 2 (inserted
here; the shadow scoring of bulk jobs writes them in production). Uploading the log up to a
fortnight after AS_OF (too short for the 30-day horizon) leaves a warning and no outcome;
uploading the whole log scores the job's predictions, compares version 2 with production and
promotes it. The bundle was trained on the whole log, so its AUC here is not an honest estimate:
the tests check the plumbing and the arithmetic, not the model."""

from __future__ import annotations

import re
import time

import numpy as np
import pandas as pd
import pytest

AS_OF = "2024-10-01"
AUTO = "/api/v1/settings/auto-promotion"


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.assign(event_date=frame["event_date"].dt.strftime("%Y-%m-%d")).to_csv(index=False).encode()


def _poll(fetch, done, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not done after {timeout} s: {value}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def matured(app, make_org, org, trained, upload, upload_dataset, wait, copy_versions, overwrite_shadow):
    from hcl_server.db import Prediction
    from hcl_server.extensions import db
    from ml_pipeline.data.days import date_to_day
    from ml_pipeline.data.eventlog import from_frame
    from ml_pipeline.data.synthetic import generate_events
    from ml_pipeline.monitoring.outcomes import actuals

    client = app.test_client()
    new = make_org("Outcomes")
    h = {"X-API-Key": new["api_key"]}
    with app.app_context():
        copy_versions(org["organization_id"], new["organization_id"], 2)  # version 2: candidate
    r = client.put(AUTO, headers=h, json={"enabled": True, "margin": 0.01, "min_customers": 50})
    assert r.status_code == 200, r.get_json()

    full = generate_events(n_customers=400, n_events=6000, days=400, seed=11)
    cut = pd.Timestamp(AS_OF)
    bulk = upload(
        client,
        "/api/v1/bulk-jobs",
        new["api_key"],
        _csv(full[full["event_date"] < cut]),
        "past.csv",
        as_of=AS_OF,
    )
    assert bulk.status_code == 202, bulk.get_json()
    job = wait(bulk.headers["Location"], new["api_key"])
    assert job["status"] == "succeeded", job

    # version 2 (a copy of version 1) was scored in shadow; its predictions are then set to what
    # the customers did, blurred a little: a candidate that is better
    job = _poll(
        lambda: client.get(f"/api/v1/bulk-jobs/{job['id']}", headers=h).get_json(),
        lambda body: body["shadow"]["status"] != "pending",
    )
    assert job["shadow"] == {
        "version": 2,
        "status": "done",
        "customers": job["total_customers"],
        "error": None,
    }
    with app.app_context():
        ids = np.array(
            db.session.scalars(db.select(Prediction.customer_id).where(Prediction.job_id == job["id"])).all()
        )
        y, _ = actuals(
            from_frame(full.assign(event_date=full["event_date"].dt.strftime("%Y-%m-%d"))),
            date_to_day(AS_OF),
            ids,
            horizon_days=30,
            churn_horizon_days=30,
            top_categories=[],
            category_targets=[],
        )
        overwrite_shadow(
            job["id"],
            [(c, 0.8 if churned else 0.15, s) for c, churned, s in zip(ids, y["churn"], y["spend_total"])],
        )

    short = upload_dataset(
        client, new["api_key"], _csv(full[full["event_date"] < pd.Timestamp("2024-10-16")]), "short.csv"
    )
    short = wait(short.headers["Location"], new["api_key"])
    assert short["status"] == "succeeded", short
    waiting = client.get("/api/v1/models/1/outcomes", headers=h).get_json()
    whole = upload_dataset(client, new["api_key"], _csv(full), "whole.csv")
    whole = wait(whole.headers["Location"], new["api_key"])
    assert whole["status"] == "succeeded", whole
    outcomes = _poll(
        lambda: client.get("/api/v1/models/1/outcomes", headers=h).get_json(),
        lambda body: body.get("jobs"),
    )
    return {
        "h": h,
        "org": new,
        "job": job,
        "short": short,
        "waiting": waiting,
        "whole": whole,
        "outcomes": outcomes,
        "y": y,
    }


def test_matured_predictions_are_scored_against_what_customers_did(matured):
    body, job = matured["outcomes"], matured["job"]
    assert body["version"] == 1 and body["validation"]["churn"]
    [row] = body["jobs"]
    assert row["job_id"] == job["id"] and row["as_of"] == AS_OF and row["shadow"] is False
    assert row["source"] == {"kind": "dataset", "id": matured["whole"]["id"]}
    assert row["customers"] == job["total_customers"] == len(matured["y"])
    churn, spend = row["metrics"]["churn"], row["metrics"]["spend"]
    assert churn["roc_auc"] > 0.5 and 0 < churn["brier"] < 0.25
    assert churn["observed_rate"] == pytest.approx(matured["y"]["churn"].mean())
    assert spend["actual_total"] == pytest.approx(matured["y"]["spend_total"].sum(), rel=1e-6)
    assert sum(b["n"] for b in churn["calibration"]) == row["customers"]
    assert row["metrics"]["absent_from_log"] == {"customers": 0, "share": 0.0}
    assert body["realized"] == row


def test_a_log_short_of_the_horizon_scores_nothing_and_says_what_it_waits_for(app, client, matured):
    from hcl_server.services.outcomes import score_source

    # before the whole log: the job waits for a log through the as-of date + 30 days - 1
    job_id = matured["job"]["id"]
    assert matured["waiting"]["jobs"] == []
    assert matured["waiting"]["pending"] == [
        {"job_id": job_id, "as_of": AS_OF, "shadow": False, "needs_events_through": "2024-10-30"}
    ]
    # the short log (through 2024-10-15) scores nothing, and says nothing on the upload: not yet
    # matured predictions are the normal state of the latest jobs
    with app.app_context():
        assert score_source(matured["org"]["organization_id"], "dataset", matured["short"]["id"]) == 0
    short = client.get(f"/api/v1/datasets/{matured['short']['id']}", headers=matured["h"]).get_json()
    assert not [w for w in short["warnings"] if "outcome" in w]
    # after the whole log: nothing pending for either version
    assert matured["outcomes"]["pending"] == []
    shadow = client.get("/api/v1/models/2/outcomes", headers=matured["h"]).get_json()
    assert shadow["pending"] == [] and [o["shadow"] for o in shadow["jobs"]] == [True]
    rows = client.get(f"/api/v1/bulk-jobs/{matured['job']['id']}/outcomes", headers=matured["h"]).get_json()
    assert {o["source"]["id"] for o in rows["outcomes"]} == {matured["whole"]["id"]}


def test_the_candidate_is_compared_on_the_same_customers_and_promoted(client, matured):
    h = matured["h"]
    body = _poll(lambda: client.get("/api/v1/models/2/outcomes", headers=h).get_json(), lambda b: b["jobs"])
    [row] = body["jobs"]
    assert row["shadow"] is True and row["customers"] == len(matured["y"])
    c = row["comparison"]
    assert c["customers"] == row["customers"] and c["production_version"] == 1
    assert c["log_loss"]["difference"] < -0.01 and c["brier"]["difference"] < 0
    assert c["roc_auc"]["candidate"] == 1.0 and c["roc_auc"]["p_value"] < 0.05
    assert c["decision"]["promoted"] is True and "log_loss lower by" in c["decision"]["reason"]
    events = client.get("/api/v1/models/history", headers=h, query_string={"alias": "production"}).get_json()
    latest = events["events"][0]
    assert (
        latest["actor"] == "rule:auto-promotion" and latest["to_version"] == 2 and latest["from_version"] == 1
    )
    assert latest["reason"] == c["decision"]["reason"]
    listed = client.get(f"/api/v1/bulk-jobs/{matured['job']['id']}/outcomes", headers=h).get_json()
    assert [(o["model_version"], o["shadow"]) for o in listed["outcomes"]] == [(1, False), (2, True)]


def test_scoring_again_writes_nothing_new(app, matured):
    from hcl_server.db import Outcome
    from hcl_server.extensions import db
    from hcl_server.services.outcomes import score_source

    org_id = matured["org"]["organization_id"]
    with app.app_context():
        before = db.session.scalar(
            db.select(db.func.count()).select_from(Outcome).where(Outcome.organization_id == org_id)
        )
        assert score_source(org_id, "dataset", matured["whole"]["id"]) == 0
        after = db.session.scalar(
            db.select(db.func.count()).select_from(Outcome).where(Outcome.organization_id == org_id)
        )
    assert before == after == 2


def test_another_organization_gets_404(client, make_org, matured):
    other = {"X-API-Key": make_org("Outsider")["api_key"]}
    assert client.get("/api/v1/models/1/outcomes", headers=other).status_code == 404
    assert client.get(f"/api/v1/bulk-jobs/{matured['job']['id']}/outcomes", headers=other).status_code == 404
    assert client.get("/api/v1/models/99/outcomes", headers=matured["h"]).status_code == 404


def test_auto_promotion_settings(client, make_org):
    h = {"X-API-Key": make_org("Settings")["api_key"]}
    assert client.get(AUTO, headers=h).get_json() == {
        "enabled": False,
        "margin": 0.01,
        "min_customers": 500,
        "metric": "log_loss",
    }
    r = client.put(AUTO, headers=h, json={"enabled": True})
    assert r.status_code == 200 and r.get_json()["enabled"] is True and r.get_json()["margin"] == 0.01
    for body, field in (
        ({"margin": "x"}, "margin"),
        ({"margin": 2}, "margin"),
        ({"min_customers": 0}, "min_customers"),
    ):
        bad = client.put(AUTO, headers=h, json=body)
        assert bad.status_code == 422 and field in str(bad.get_json()["error"]["details"]), bad.get_json()
    assert client.get(AUTO, headers=h).get_json()["enabled"] is True


def test_answers_with_outcomes_match_the_openapi_document(client, matured):
    """The contract test sees these endpoints with no outcome yet; here with production and
    shadow outcomes, comparisons and decisions, null metrics included."""
    from openapi_schema_validator import OAS30Validator

    document = client.get("/api/v1/openapi.json").get_json()
    h, job_id = matured["h"], matured["job"]["id"]
    for template, url in (
        ("/api/v1/models/{version}/outcomes", "/api/v1/models/1/outcomes"),
        ("/api/v1/models/{version}/outcomes", "/api/v1/models/2/outcomes"),
        ("/api/v1/bulk-jobs/{job_id}/outcomes", f"/api/v1/bulk-jobs/{job_id}/outcomes"),
    ):
        response = client.get(url, headers=h)
        assert response.status_code == 200
        ref = document["paths"][template]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        schema = {**ref, "components": document["components"]}
        errors = [
            f"{list(e.path)}: {e.message}" for e in OAS30Validator(schema).iter_errors(response.get_json())
        ]
        assert not errors, (url, errors[:5])


def test_a_later_bulk_jobs_file_matures_the_predictions_too(client, upload, wait, matured):
    """A bulk job's file is a newer log as well: the whole log scored as of 2025-01-01 covers the
    first job's window. Version 2 is production by now, so its decision says so, and nothing moves."""
    from ml_pipeline.data.synthetic import generate_events

    h, key, job_id = matured["h"], matured["org"]["api_key"], matured["job"]["id"]
    full = generate_events(n_customers=400, n_events=6000, days=400, seed=11)
    later = upload(client, "/api/v1/bulk-jobs", key, _csv(full), "later.csv")
    later = wait(later.headers["Location"], key)
    assert later["status"] == "succeeded", later
    rows = _poll(
        lambda: client.get(f"/api/v1/bulk-jobs/{job_id}/outcomes", headers=h).get_json()["outcomes"],
        lambda rows: any(o["source"]["kind"] == "bulk" for o in rows) and len(rows) == 4,
    )
    by_source = [o for o in rows if o["source"] == {"kind": "bulk", "id": later["id"]}]
    assert [(o["model_version"], o["shadow"]) for o in by_source] == [(1, False), (2, True)]
    dataset = next(o for o in rows if o["source"]["kind"] == "dataset" and not o["shadow"])
    assert by_source[0]["metrics"]["churn"] == dataset["metrics"]["churn"]  # the same events, the same labels
    decision = by_source[1]["comparison"]["decision"]
    assert decision["promoted"] is False and decision["reason"] == "version 2 is production already"
    events = client.get("/api/v1/models/history", headers=h, query_string={"alias": "production"}).get_json()
    assert events["total"] == 2  # rule:no-production, then the one promotion
    assert client.get(f"/api/v1/bulk-jobs/{later['id']}/outcomes", headers=h).get_json()["outcomes"] == []


def test_each_rule_of_automatic_promotion_is_a_stated_decision(app, make_org, org, trained, copy_versions):
    """services.champion.decide on made-up comparisons: each condition that fails is the reason."""
    from hcl_server.extensions import db
    from hcl_server.services import champion, registry

    new = make_org("Rules")
    org_id = new["organization_id"]

    def comparison(log_loss: float, brier: float, customers: int = 1000) -> dict:
        return {
            "customers": customers,
            "log_loss": {"difference": log_loss, "p_value": 0.01},
            "brier": {"difference": brier, "p_value": 0.02},
            "roc_auc": {"candidate": 0.8, "production": 0.75, "p_value": 0.03},
        }

    with app.app_context():
        mvs = copy_versions(org["organization_id"], org_id, 3)  # candidate: version 3
        v2, v3 = mvs[1], mvs[2]
        assert "is off" in champion.decide(org_id, v3, comparison(-0.1, -0.01))["reason"]
        champion.set_auto_promotion(org_id, {"enabled": True, "margin": 0.02, "min_customers": 500})
        cases = [
            (v2, comparison(-0.1, -0.01), "the candidate alias names version 3, not 2"),
            (
                v3,
                comparison(-0.1, -0.01, customers=499),
                "499 customers compared, fewer than min_customers 500",
            ),
            (v3, comparison(-0.01, -0.01), "log_loss better by 0.0100, less than the margin 0.02"),
            (v3, comparison(0.05, -0.01), "log_loss better by -0.0500, less than the margin 0.02"),
            (v3, comparison(-0.1, 0.001), "calibration worse: Brier higher by 0.001"),
        ]
        for mv, c, reason in cases:
            decision = champion.decide(org_id, mv, c)
            assert decision["promoted"] is False and decision["reason"] == reason, decision
        assert registry.list_aliases(org_id)[-1].version == 1  # production, unmoved
        decision = champion.decide(org_id, v3, comparison(-0.1, -0.01))
        db.session.commit()
        assert decision["promoted"] is True and "log_loss lower by 0.1000 (margin 0.02" in decision["reason"]
        assert {a.alias: a.version for a in registry.list_aliases(org_id)} == {
            "candidate": 3,
            "production": 3,
        }


def test_the_model_page_shows_realized_accuracy_below_validation(client, web_pages, matured):
    page = web_pages(matured["org"]["api_key"]).get("/app/models/1").data.decode()
    table = page[page.index('id="realized"') : page.index("</table>", page.index('id="realized"'))]
    rows = re.findall(r'<tr><th scope="row">(.*?)</th>(.*?)</tr>', table, re.S)
    listed = client.get("/api/v1/models/1/outcomes", headers=matured["h"]).get_json()["jobs"]
    assert [label for label, _ in rows] == ["validation"] + [o["as_of"] for o in listed]
    assert AS_OF in [o["as_of"] for o in listed]
    for (_, cells), outcome in zip(rows[1:], listed):
        churn = outcome["metrics"]["churn"]
        assert f"<td>{churn['roc_auc']:.3f}</td><td>{churn['brier']:.3f}</td>" in cells
        assert f"{outcome['customers']} customers" in cells
