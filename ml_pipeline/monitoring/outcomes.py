"""Realized accuracy: stored predictions scored against what the customers then did.

A prediction made as of day ``as_of`` matures once a newer log covers its label window. The
labels are training's own (:func:`ml_pipeline.training.targets.build_targets`): churn is 1 when
the customer makes no purchase in ``[as_of, as_of + churn_horizon_days)``; spend is the net
spend in ``[as_of, as_of + horizon_days)``, floored at 0, in total and per category target.

Coverage rule (:func:`check_coverage`): the log must hold the whole label window, i.e. its first
event day is on or before ``as_of`` and its last event day on or after
``as_of + max(horizon_days, churn_horizon_days) - 1`` (the window's last day; the same rule as
the rolling backtest's latest cutoff, ``training.evaluation.backtest_cutoffs``).

Customers predicted but absent from the newer log did nothing in it: they count as churned with
spend 0, and :func:`actuals` says how many there were (a large share usually means the newer log
is another shop's or a subset, not that those customers left). Customers of the log that were not
predicted are ignored.

The paired test (:func:`paired_comparison`) compares two prediction sets on the same customers:
per-customer Brier, log-loss and spend absolute-error differences with the paired t-test
(``scipy.stats.ttest_rel``; the mean of the per-customer differences is exactly the difference of
the metrics), and the ROC-AUC difference with DeLong's test (DeLong, DeLong & Clarke-Pearson,
"Comparing the areas under two or more correlated ROC curves", Biometrics 44:837-845, 1988), in
the midrank formulation of Sun & Xu ("Fast implementation of DeLong's algorithm", IEEE Signal
Processing Letters 21(11):1389-1393, 2014), vectorized over customers.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata, ttest_rel

from ml_pipeline.data.days import day_to_date
from ml_pipeline.data.eventlog import EventLog
from ml_pipeline.errors import PipelineError
from ml_pipeline.training.metrics import churn_metrics, reliability_table, spend_metrics
from ml_pipeline.training.targets import build_targets

EPS = 1e-6  # probabilities are clipped to [EPS, 1 - EPS] for log loss, as churn_metrics does


def label_days(horizon_days: int, churn_horizon_days: int) -> int:
    """Days after the as-of date that the labels look at (the longer horizon)."""
    return max(int(horizon_days), int(churn_horizon_days))


def check_coverage(log: EventLog, as_of: int, horizon_days: int, churn_horizon_days: int) -> None:
    """Raise PipelineError, with the dates, unless ``log`` covers the label window after ``as_of``
    (first event on or before ``as_of``, last event on or after the window's last day)."""
    if log.n_events == 0:
        raise PipelineError("the log has no events: it cannot show what the customers did")
    first, last = int(log.day[0]), int(log.day[-1])
    need = as_of + label_days(horizon_days, churn_horizon_days) - 1
    if first > as_of or last < need:
        raise PipelineError(
            f"the log runs from {day_to_date(first)} to {day_to_date(last)}; predictions as of "
            f"{day_to_date(as_of)} with a {label_days(horizon_days, churn_horizon_days)}-day horizon "
            f"need events from {day_to_date(as_of)} or earlier through {day_to_date(need)}"
        )


def covers(log: EventLog, as_of: int, horizon_days: int, churn_horizon_days: int) -> bool:
    """Whether ``log`` covers the label window after ``as_of`` (see :func:`check_coverage`)."""
    try:
        check_coverage(log, as_of, horizon_days, churn_horizon_days)
    except PipelineError:
        return False
    return True


def actuals(
    log: EventLog,
    as_of: int,
    customer_ids: np.ndarray,
    *,
    horizon_days: int,
    churn_horizon_days: int,
    top_categories: list[str],
    category_targets: list[str],
) -> tuple[pd.DataFrame, int]:
    """What the predicted customers did after ``as_of``: (a frame indexed by customer id, in the
    order of ``customer_ids``, with columns churn (0/1), spend_total and spend_<category> per
    category target; the number of customers absent from the log).

    ``top_categories`` and ``category_targets`` are the model's (its feature builder's
    ``categories`` and ``category_targets``), so a category is pooled into "other" as the model
    pooled it. Absent customers are churned with spend 0. Raises PipelineError when the log does
    not cover the window (:func:`check_coverage`).
    """
    check_coverage(log, as_of, horizon_days, churn_horizon_days)
    ids = pd.Index(np.asarray(customer_ids, dtype=object).astype(str))
    codes = pd.Index(log.customer_ids.astype(str)).get_indexer(ids)
    present = codes >= 0
    y = build_targets(
        log,
        as_of,
        codes[present],
        horizon_days=horizon_days,
        churn_horizon_days=churn_horizon_days,
        top_categories=list(top_categories),
        category_targets=list(category_targets),
    )
    out = pd.DataFrame(0.0, index=ids, columns=y.columns)
    out["churn"] = 1.0
    out.loc[present, :] = y.to_numpy(dtype=float)
    out.index.name = "customer_id"
    return out, int((~present).sum())


def realized_metrics(predicted: pd.DataFrame, actual: pd.DataFrame) -> dict:
    """Realized metrics of one prediction set, by customer id (both frames indexed by it; only the
    customers in both count).

    ``predicted``: churn_probability, spend_total and spend_<category> columns (a category
    predicted for none of the customers may be missing). Returns {customers, churn: churn_metrics
    + calibration (reliability_table by decile), spend: spend_metrics (MAE, RMSE, normalized Gini,
    predicted/actual total, ...), categories: {name: spend_metrics}}; NaN where a metric is
    undefined (e.g. AUC when everyone churned).
    """
    both = predicted.index.intersection(actual.index)
    p, a = predicted.loc[both], actual.loc[both]
    y = a["churn"].to_numpy(dtype=int)
    prob = p["churn_probability"].to_numpy(dtype=float)
    out = {
        "customers": int(len(both)),
        "churn": {**churn_metrics(y, prob), "calibration": reliability_table(y, prob)},
        "spend": spend_metrics(a["spend_total"].to_numpy(float), p["spend_total"].to_numpy(float)),
        "categories": {},
    }
    for col in a.columns:
        if col.startswith("spend_") and col != "spend_total" and col in p.columns:
            pred = p[col].to_numpy(dtype=float)
            known = ~np.isnan(pred)
            if known.any():
                out["categories"][col[len("spend_") :]] = spend_metrics(
                    a[col].to_numpy(float)[known], pred[known]
                )
    return out


def delong(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC-AUC of each row of ``scores`` (k x n) against labels ``y`` (n, 1 = positive) and their
    k x k covariance, by DeLong's method (Sun & Xu's midrank form). Needs both classes in ``y``;
    raises ValueError otherwise."""
    y = np.asarray(y).astype(bool)
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    pos, neg = scores[:, y], scores[:, ~y]
    m, n = pos.shape[1], neg.shape[1]
    if m == 0 or n == 0:
        raise ValueError("DeLong's test needs both classes in the labels")
    tx = rankdata(pos, axis=1)
    ty = rankdata(neg, axis=1)
    tz = rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    auc = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    v01 = (tz[:, :m] - tx) / n  # per positive: share of negatives ranked below it
    v10 = 1.0 - (tz[:, m:] - ty) / m  # per negative: share of positives ranked above it
    s = np.atleast_2d(np.cov(v01)) / m + np.atleast_2d(np.cov(v10)) / n
    return auc, s


def _paired(diff: np.ndarray, a: np.ndarray, b: np.ndarray) -> dict:
    """Mean difference (a - b) and the paired t-test's statistic and two-sided p-value."""
    mean = float(diff.mean()) if len(diff) else float("nan")
    if len(diff) < 2 or np.allclose(diff, 0.0):
        return {"difference": mean, "statistic": float("nan"), "p_value": float("nan"), "test": "ttest_rel"}
    t = ttest_rel(a, b)
    return {
        "difference": mean,
        "statistic": float(t.statistic),
        "p_value": float(t.pvalue),
        "test": "ttest_rel",
    }


def paired_comparison(actual: pd.DataFrame, candidate: pd.DataFrame, production: pd.DataFrame) -> dict:
    """Candidate against production on the customers both predicted (frames indexed by customer
    id, as in :func:`realized_metrics`). Differences are candidate minus production: negative is
    better for brier, log_loss and spend_abs_error, positive for roc_auc.

    Returns {customers, brier, log_loss, spend_abs_error: {difference, statistic, p_value, test},
    roc_auc: {candidate, production, difference, statistic (z), p_value, test: "delong"}}; NaN
    where a test is undefined (one class only, identical predictions).
    """
    both = candidate.index.intersection(production.index).intersection(actual.index)
    y = actual.loc[both, "churn"].to_numpy(dtype=float)
    pc = np.clip(candidate.loc[both, "churn_probability"].to_numpy(float), EPS, 1 - EPS)
    pp = np.clip(production.loc[both, "churn_probability"].to_numpy(float), EPS, 1 - EPS)
    spend = actual.loc[both, "spend_total"].to_numpy(float)
    sc = candidate.loc[both, "spend_total"].to_numpy(float)
    sp = production.loc[both, "spend_total"].to_numpy(float)
    brier_c, brier_p = (pc - y) ** 2, (pp - y) ** 2
    ll_c = -(y * np.log(pc) + (1 - y) * np.log(1 - pc))
    ll_p = -(y * np.log(pp) + (1 - y) * np.log(1 - pp))
    err_c, err_p = np.abs(sc - spend), np.abs(sp - spend)
    out = {
        "customers": int(len(both)),
        "brier": _paired(brier_c - brier_p, brier_c, brier_p),
        "log_loss": _paired(ll_c - ll_p, ll_c, ll_p),
        "spend_abs_error": _paired(err_c - err_p, err_c, err_p),
    }
    auc = {"candidate": float("nan"), "production": float("nan"), "difference": float("nan")}
    auc.update({"statistic": float("nan"), "p_value": float("nan"), "test": "delong"})
    if 0 < y.sum() < len(y):
        (a_c, a_p), s = delong(y, np.vstack([pc, pp]))
        var = s[0, 0] + s[1, 1] - 2 * s[0, 1]
        auc.update(candidate=float(a_c), production=float(a_p), difference=float(a_c - a_p))
        if var > 0:
            z = (a_c - a_p) / math.sqrt(var)
            auc.update(statistic=float(z), p_value=float(2 * norm.sf(abs(z))))
    out["roc_auc"] = auc
    return out


def predictions_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """Stored predictions as :func:`realized_metrics` reads them: ``rows`` has customer_id,
    churn_probability, spend_total and spend (a dict of category -> amount per row); returns
    churn_probability, spend_total and spend_<category> columns indexed by customer id (NaN where
    a row has no amount for a category)."""
    frame = rows.set_index(rows["customer_id"].astype(str))[["churn_probability", "spend_total"]]
    if "spend" in rows and len(rows):
        per = pd.DataFrame.from_records(rows["spend"].tolist(), index=frame.index)
        per.columns = [f"spend_{c}" for c in per.columns]
        frame = frame.join(per.apply(pd.to_numeric, errors="coerce"))
    frame.index.name = "customer_id"
    return frame.astype(float)


def finite(value):
    """A JSON-like value with every NaN or infinity as None (JSON has no NaN; PostgreSQL's JSON
    refuses it)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    if isinstance(value, np.generic):
        return finite(value.item())
    return value
