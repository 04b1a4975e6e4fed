"""Models in the web pages: the organization's versions and latest training jobs, and one
version's validation metrics beside its baseline's, its reliability (calibration) chart, its
feature importance, its realized accuracy and its latest drift."""

from __future__ import annotations

from flask import g, render_template

from hcl_server.services import bulk_drift, outcomes, training
from hcl_server.services.dashboard import headline, selected_metrics
from hcl_server.web import bp
from hcl_server.web.views import signed_in_only

CHURN_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier")
SPEND_METRICS = ("mae", "rmse", "gini", "total_ratio")
TOP_FEATURES = 12
DRIFT_ROWS = 10  # the features of largest PSI shown
TRAINING_JOBS = 20
PLOT = 240  # the reliability chart's side, in SVG units


@bp.get("/models")
@signed_in_only
def models():
    """The organization's model versions, newest first, with their aliases."""
    rows = sorted(training.list_models(g.org_id), key=lambda mv: mv.version, reverse=True)
    jobs, total = training.list_training_jobs(g.org_id, TRAINING_JOBS, 0)
    return render_template("web/models.html", models=rows, jobs=jobs, total=total)


@bp.get("/models/<int:version>")
@signed_in_only
def model(version: int):
    """One model version: metrics against the baseline, reliability, feature importance."""
    mv = training.get_model(g.org_id, version)
    metrics = mv.metrics or {}
    churn = metrics.get("churn") or {}
    return render_template(
        "web/model.html",
        mv=mv,
        churn=metric_rows(churn, CHURN_METRICS),
        spend={t: metric_rows(m, SPEND_METRICS) for t, m in metrics.items() if t != "churn" and m},
        reliability=reliability_points((churn.get("model") or {}).get("reliability") or []),
        importance=top_features(((mv.bundle_metadata or {}).get("importance") or {}).get("churn") or {}),
        size=PLOT,
        validation=headline(selected_metrics(mv, "churn"), selected_metrics(mv, "spend_total")),
        outcomes=realized_view(outcomes.version_outcomes(g.org_id, version)),
        drift=drift_view(bulk_drift.latest_for_version(g.org_id, version)),
    )


def realized_view(found: dict) -> dict:
    """A version's outcomes (services.outcomes.version_outcomes) with each one's headline
    numbers (services.dashboard.headline) beside it, for the realized-accuracy table."""
    rows = []
    for o in found["jobs"]:
        metrics = o.get("metrics") or {}
        rows.append({**o, **headline(metrics.get("churn"), metrics.get("spend"))})
    return {**found, "jobs": rows}


def drift_view(report: dict | None) -> dict | None:
    """A drift report as the model page shows it: its job, status (done, failed, no_reference)
    and error, rows, alerts, the predictions' PSI and the DRIFT_ROWS features of largest PSI
    ([(name, psi, reading)]); None without a report."""
    if report is None:
        return None
    features = sorted((report.get("features") or {}).items(), key=lambda item: -item[1]["psi"])
    return {
        "job_id": report["job_id"],
        "status": report["status"],
        "error": report.get("error"),
        "rows": report.get("rows"),
        "reference_rows": report.get("reference_rows"),
        "alerts": report.get("alerts") or [],
        "predictions": [(n, r["psi"], r["reading"]) for n, r in (report.get("predictions") or {}).items()],
        "features": [(n, r["psi"], r["reading"]) for n, r in features[:DRIFT_ROWS]],
        "missing": report.get("missing") or [],
    }


def metric_rows(target: dict, names: tuple[str, ...]) -> list[dict]:
    """[{metric, model, baseline}] of the names both or either report (None where absent)."""
    model, baseline = target.get("model") or {}, target.get("baseline") or {}
    return [
        {"metric": n, "model": model.get(n), "baseline": baseline.get(n)}
        for n in names
        if n in model or n in baseline
    ]


def reliability_points(bins: list[dict]) -> list[dict]:
    """Each reliability bin as a point of the chart: mean predicted (x) against the observed
    churn rate (y), both 0–1, in SVG units (y grows downwards), with its customer count."""
    return [
        {
            "x": round(PLOT * b["mean_predicted"], 2),
            "y": round(PLOT * (1 - b["observed_rate"]), 2),
            "n": b["n"],
            "predicted": b["mean_predicted"],
            "observed": b["observed_rate"],
        }
        for b in bins
        if b.get("mean_predicted") is not None and b.get("observed_rate") is not None
    ]


def top_features(importance: dict) -> list[dict]:
    """The TOP_FEATURES features of largest gain share, with bar widths (0–100 % of the largest)."""
    rows = sorted(importance.get("features") or [], key=lambda f: -(f.get("gain") or 0))[:TOP_FEATURES]
    largest = max((f.get("gain") or 0 for f in rows), default=0) or 1
    return [{**f, "width": 100 * (f.get("gain") or 0) / largest} for f in rows]
