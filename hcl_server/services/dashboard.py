"""The dashboard summary: the production and candidate models, the latest bulk jobs as a trend,
open drift alerts, and whether retraining is recommended and why.

Everything here is read from rows other work wrote (model versions, bulk jobs' summaries, drift
reports, realized outcomes, datasets' profiles): the summary computes no model output itself.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from hcl_server.db import ModelVersion
from hcl_server.db.models import utcnow
from hcl_server.repositories import datasets, jobs, model_aliases, model_versions, outcomes

LATEST_JOBS = 10
# Retraining is recommended when any of these holds (each with its numbers in the reason):
MAX_MODEL_AGE_DAYS = 90  # the production model was trained this long ago or more
NEW_DATA_DAYS = 30  # the latest dataset runs this many days past the training data's last event
NEW_DATA_GROWTH = 0.25  # or holds this share more events than the training data did
AUC_DROP = 0.05  # realized churn ROC-AUC this far below the validation's
BRIER_RISE = 0.02  # realized Brier score this far above the validation's


def selected_metrics(mv: ModelVersion, target: str) -> dict | None:
    """The validation metrics of the predictor a version uses for ``target`` (the selected model,
    or the baseline where selection kept it), or None when the version has no such target."""
    entry = (mv.metrics or {}).get(target)
    if not entry:
        return None
    selected = (mv.bundle_metadata or {}).get("selection", {}).get(target)
    chosen = entry.get("baseline") if selected == "baseline" else entry.get("model")
    return chosen or entry.get("model") or entry.get("baseline")


def headline(churn: dict | None, spend: dict | None) -> dict:
    """The few numbers a dashboard shows of a metrics pair (churn, spend_total); None where absent."""
    churn, spend = churn or {}, spend or {}
    return {
        "churn_roc_auc": churn.get("roc_auc"),
        "churn_brier": churn.get("brier"),
        "spend_mae": spend.get("mae"),
        "spend_gini": spend.get("gini"),
        "spend_total_ratio": spend.get("total_ratio"),
    }


def _realized(org_id: str, mv: ModelVersion, shadow: bool) -> dict | None:
    """The version's latest matured outcome (newest as-of date) of its own predictions (``shadow``
    False) or of its shadow ones, or None."""
    outcome = next((o for o in outcomes.for_version(org_id, mv.id) if o.shadow == shadow), None)
    if outcome is None:
        return None
    metrics = outcome.metrics or {}
    return {
        **headline(metrics.get("churn"), metrics.get("spend")),
        "comparison": outcome.comparison,
        "job_id": outcome.job_id,
        "as_of": outcome.as_of,
        "customers": outcome.customers,
        "source": {"kind": outcome.source_kind, "id": outcome.source_id},
    }


def _model(org_id: str, mv: ModelVersion | None, shadow: bool) -> dict | None:
    if mv is None:
        return None
    training = (mv.bundle_metadata or {}).get("training_data") or {}
    return {
        "version": mv.version,
        "created_at": mv.created_at,
        "age_days": (utcnow() - _aware(mv.created_at)).days,
        "training_data_last_date": training.get("last_date"),
        "validation": headline(selected_metrics(mv, "churn"), selected_metrics(mv, "spend_total")),
        "realized": _realized(org_id, mv, shadow),
    }


def _aware(moment: datetime) -> datetime:
    # SQLite gives back naive datetimes for timezone-aware columns; they were written in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _job_entry(job) -> dict:
    report = job.drift_report
    summary = (job.result or {}).get("summary") or {}
    customers = (job.result or {}).get("total_customers")
    spend = summary.get("predicted_spend_total")
    return {
        "id": job.id,
        "finished_at": job.finished_at,
        "as_of": (job.params or {}).get("as_of"),
        "customers": customers,
        "avg_churn_probability": summary.get("avg_churn_probability"),
        "predicted_spend_total": spend,
        "predicted_spend_per_customer": round(spend / customers, 4)
        if spend is not None and customers
        else None,
        "risk_distribution": summary.get("risk_distribution"),
        "drift_status": report.status if report is not None else None,
        "drift_alerts": len(report.alerts or []) if report is not None else 0,
    }


def _open_alerts(latest: list) -> tuple[dict | None, list[dict]]:
    """The alerts of the latest bulk job with a finished drift report: an alert is open until a
    later job's report no longer raises it."""
    for job in latest:  # newest first
        report = job.drift_report
        if report is not None and report.status == "done":
            return {"job_id": job.id, "finished_at": job.finished_at}, list(report.alerts or [])
    return None, []


def _days_between(earlier: str | None, later: str | None) -> int | None:
    if not earlier or not later:
        return None
    return (date.fromisoformat(later) - date.fromisoformat(earlier)).days


def retraining_reasons(
    org_id: str, production: dict | None, mv: ModelVersion | None, alerts: list
) -> list[dict]:
    """Why the production model should be retrained: one {reason, message} per rule that holds
    (drift, realized_degradation, new_data, model_age); a missing production model is one too."""
    if mv is None:
        return [{"reason": "no_production_model", "message": "no model is in production: train one"}]
    reasons = []
    if alerts:
        names = ", ".join(a.get("name", "?") for a in alerts[:3])
        reasons.append(
            {"reason": "drift", "message": f"{len(alerts)} drift alert(s) on the latest bulk job ({names})"}
        )
    realized, validation = production.get("realized"), production["validation"]
    if realized:
        auc, v_auc = realized.get("churn_roc_auc"), validation.get("churn_roc_auc")
        if auc is not None and v_auc is not None and auc < v_auc - AUC_DROP:
            reasons.append(
                {
                    "reason": "realized_degradation",
                    "message": f"realized churn ROC-AUC {auc:.3f} is more than {AUC_DROP} below "
                    f"the validation's {v_auc:.3f} (predictions as of {realized['as_of']})",
                }
            )
        brier, v_brier = realized.get("churn_brier"), validation.get("churn_brier")
        if brier is not None and v_brier is not None and brier > v_brier + BRIER_RISE:
            reasons.append(
                {
                    "reason": "realized_degradation",
                    "message": f"realized churn Brier score {brier:.4f} is more than {BRIER_RISE} above "
                    f"the validation's {v_brier:.4f} (predictions as of {realized['as_of']})",
                }
            )
    reasons += _new_data(org_id, mv)
    if production["age_days"] >= MAX_MODEL_AGE_DAYS:
        reasons.append(
            {
                "reason": "model_age",
                "message": f"the production model was trained {production['age_days']} days ago "
                f"(recommended at {MAX_MODEL_AGE_DAYS} days or more)",
            }
        )
    return reasons


def _new_data(org_id: str, mv: ModelVersion) -> list[dict]:
    """The new-data rule: the latest dataset runs ``NEW_DATA_DAYS`` past the training data, or
    holds ``NEW_DATA_GROWTH`` more events than it."""
    dataset = datasets.latest_succeeded(org_id)
    meta = mv.bundle_metadata or {}
    if dataset is None or dataset.id == mv.dataset_id or not dataset.profile:
        return []
    last, trained_last = dataset.profile.get("last_date"), (meta.get("training_data") or {}).get("last_date")
    days = _days_between(trained_last, last)
    if days is not None and days >= NEW_DATA_DAYS:
        return [
            {
                "reason": "new_data",
                "message": f"dataset {dataset.id} has events up to {last}, {days} days after the "
                f"training data's last event ({trained_last})",
            }
        ]
    rows, trained_rows = dataset.profile.get("rows"), (meta.get("training") or {}).get("events")
    if rows and trained_rows and rows >= trained_rows * (1 + NEW_DATA_GROWTH):
        return [
            {
                "reason": "new_data",
                "message": f"dataset {dataset.id} holds {rows} events, {rows / trained_rows - 1:.0%} "
                f"more than the training data's {trained_rows}",
            }
        ]
    return []


def summary(org_id: str) -> dict:
    """The organization's dashboard summary.

    ``models``: {production, candidate}, each {version, created_at, age_days,
    training_data_last_date, validation, realized} or None, where validation and realized are
    {churn_roc_auc, churn_brier, spend_mae, spend_gini, spend_total_ratio} (realized: the latest
    matured outcome, production's own predictions for production and the shadow ones for the
    candidate; None before any matured). ``jobs``: the latest ``LATEST_JOBS`` succeeded bulk jobs,
    oldest first (a trend): customers, risk distribution, average churn probability, predicted
    spend. ``drift``: the open alerts (the latest job with a finished drift report).
    ``retraining``: {recommended, reasons: [{reason, message}]}.
    """
    production_mv = model_versions.production(org_id)
    candidate_version = model_aliases.version_of(org_id, "candidate")
    candidate_mv = (
        model_versions.get_for_org(org_id, candidate_version) if candidate_version is not None else None
    )
    production = _model(org_id, production_mv, shadow=False)
    candidate = _model(org_id, candidate_mv, shadow=True)
    latest = jobs.latest_succeeded_bulk(org_id, LATEST_JOBS)
    alerts_job, alerts = _open_alerts(latest)
    reasons = retraining_reasons(org_id, production, production_mv, alerts)
    return {
        "generated_at": utcnow(),
        "models": {"production": production, "candidate": candidate},
        "jobs": [_job_entry(j) for j in reversed(latest)],
        "drift": {"job": alerts_job, "alerts": alerts},
        "retraining": {"recommended": bool(reasons), "reasons": reasons},
    }
