"""Realized accuracy of stored predictions against a newer log, and the paired champion-challenger
test (ml_pipeline.monitoring.outcomes), on synthetic data whose right answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from ml_pipeline.data.days import date_to_day
from ml_pipeline.data.eventlog import from_frame
from ml_pipeline.data.synthetic import generate_events
from ml_pipeline.errors import PipelineError
from ml_pipeline.monitoring.outcomes import (
    actuals,
    check_coverage,
    delong,
    finite,
    paired_comparison,
    predictions_frame,
    realized_metrics,
)
from ml_pipeline.training.targets import build_targets

AS_OF = "2024-10-01"
H = {"horizon_days": 30, "churn_horizon_days": 30}


@pytest.fixture(scope="module")
def log():
    frame = generate_events(n_customers=600, n_events=9000, days=400, seed=3)
    return from_frame(frame.assign(event_date=frame["event_date"].dt.strftime("%Y-%m-%d")))


@pytest.fixture(scope="module")
def truth(log):
    ids = log.customer_ids[np.unique(log.customer[: log.end_before(date_to_day(AS_OF))])]
    y, missing = actuals(
        log, date_to_day(AS_OF), ids, **H, top_categories=list(log.categories[:2]), category_targets=[]
    )
    return y, missing


def test_actuals_are_trainings_labels(log, truth):
    y, missing = truth
    as_of = date_to_day(AS_OF)
    codes = np.unique(log.customer[: log.end_before(as_of)])
    expected = build_targets(log, as_of, codes, **H, top_categories=[], category_targets=[])
    assert missing == 0 and len(y) == len(codes)
    assert np.array_equal(y["churn"].to_numpy(), expected["churn"].to_numpy())
    assert np.allclose(y["spend_total"].to_numpy(), expected["spend_total"].to_numpy())
    assert 0 < y["churn"].mean() < 1  # both classes: the metrics below are defined


def test_customers_absent_from_the_log_churned_with_no_spend(log):
    ids = np.array([log.customer_ids[0], "nobody-1", "nobody-2"], dtype=object)
    y, missing = actuals(log, date_to_day(AS_OF), ids, **H, top_categories=[], category_targets=[])
    assert missing == 2 and list(y.index) == list(ids)
    assert y.loc[["nobody-1", "nobody-2"], "churn"].tolist() == [1.0, 1.0]
    assert y.loc[["nobody-1", "nobody-2"], "spend_total"].tolist() == [0.0, 0.0]


def test_a_log_that_does_not_cover_the_horizon_is_refused_with_the_dates(log):
    short = log.head(date_to_day("2024-10-20"))
    with pytest.raises(PipelineError, match=r"through 2024-10-30") as exc:
        check_coverage(short, date_to_day(AS_OF), **H)
    assert "2024-10-19" in str(exc.value) and AS_OF in str(exc.value)
    # the window's last day is enough
    check_coverage(log.head(date_to_day("2024-10-31")), date_to_day(AS_OF), **H)
    with pytest.raises(PipelineError):
        check_coverage(log.head(date_to_day("2024-10-30")), date_to_day(AS_OF), **H)


def _frame(y: pd.DataFrame, churn: np.ndarray, spend: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"churn_probability": churn, "spend_total": spend}, index=y.index)


def test_a_perfect_predictor_scores_perfectly(truth):
    y, _ = truth
    perfect = _frame(y, y["churn"].to_numpy(), y["spend_total"].to_numpy())
    m = realized_metrics(perfect, y)
    assert m["customers"] == len(y)
    assert m["churn"]["roc_auc"] == 1.0 and m["churn"]["brier"] == pytest.approx(0.0, abs=1e-10)
    assert m["spend"]["mae"] == 0.0 and m["spend"]["gini"] == pytest.approx(1.0)
    assert m["spend"]["total_ratio"] == pytest.approx(1.0)
    assert all(b["mean_predicted"] == pytest.approx(b["observed_rate"]) for b in m["churn"]["calibration"])


def test_a_random_predictor_has_auc_near_one_half(truth):
    y, _ = truth
    rng = np.random.default_rng(0)
    m = realized_metrics(_frame(y, rng.random(len(y)), rng.gamma(2, 20, len(y))), y)
    assert abs(m["churn"]["roc_auc"] - 0.5) < 0.08
    assert m["churn"]["brier"] == pytest.approx(1 / 3, abs=0.05)  # E[(U - y)^2] for U uniform


def test_per_category_metrics_where_predicted(log):
    as_of = date_to_day(AS_OF)
    top = [str(c) for c in log.categories[:2]]
    targets = [*top, "other"]
    ids = log.customer_ids[np.unique(log.customer[: log.end_before(as_of)])]
    y, _ = actuals(log, as_of, ids, **H, top_categories=top, category_targets=targets)
    assert [c for c in y.columns if c.startswith("spend_")] == [
        "spend_total",
        *(f"spend_{c}" for c in targets),
    ]
    stored = pd.DataFrame(
        {
            "customer_id": ids,
            "churn_probability": 0.5,
            "spend_total": y["spend_total"].to_numpy(),
            "spend": [{top[0]: v} for v in y[f"spend_{top[0]}"].to_numpy()],
        }
    )
    m = realized_metrics(predictions_frame(stored), y)
    assert list(m["categories"]) == [top[0]] and m["categories"][top[0]]["mae"] == pytest.approx(
        0.0, abs=1e-9
    )


def test_delong_matches_sklearn_and_a_better_candidate_is_significant(truth):
    y, _ = truth
    rng = np.random.default_rng(1)
    label = y["churn"].to_numpy()
    good = label * 0.3 + rng.random(len(y)) * 0.7  # overlapping classes: AUC below 1
    noisy = rng.random(len(y))
    auc, cov = delong(label, np.vstack([good, noisy]))
    assert auc[0] == pytest.approx(roc_auc_score(label, good)) and auc[1] == pytest.approx(
        roc_auc_score(label, noisy)
    )
    assert cov.shape == (2, 2) and cov[0, 0] > 0
    out = paired_comparison(
        y, _frame(y, good, y["spend_total"] * 1.1), _frame(y, noisy, y["spend_total"] * 3)
    )
    assert out["customers"] == len(y)
    assert out["roc_auc"]["difference"] > 0.2 and out["roc_auc"]["p_value"] < 1e-6
    assert out["brier"]["difference"] < 0 and out["brier"]["p_value"] < 1e-6
    assert out["spend_abs_error"]["difference"] < 0 and out["spend_abs_error"]["p_value"] < 1e-6
    brier = lambda p: float(((p - label) ** 2).mean())  # noqa: E731
    assert out["brier"]["difference"] == pytest.approx(brier(good) - brier(noisy))


def test_identical_predictions_differ_by_nothing(truth):
    y, _ = truth
    same = _frame(y, np.full(len(y), 0.3), y["spend_total"].to_numpy())
    out = finite(paired_comparison(y, same, same))
    assert out["brier"]["difference"] == 0.0 and out["brier"]["p_value"] is None
    assert out["roc_auc"]["difference"] == 0.0 and out["roc_auc"]["p_value"] is None


def test_the_comparison_is_on_the_customers_both_predicted(truth):
    y, _ = truth
    half = y.index[: len(y) // 2]
    cand = _frame(y, np.full(len(y), 0.4), y["spend_total"].to_numpy()).loc[half]
    prod = _frame(y, np.full(len(y), 0.5), y["spend_total"].to_numpy())
    assert paired_comparison(y, cand, prod)["customers"] == len(half)


def test_delongs_variance_of_the_difference_agrees_with_a_paired_bootstrap():
    rng = np.random.default_rng(0)
    n = 1500
    y = (rng.random(n) < 0.3).astype(int)
    a = y * 0.5 + rng.random(n)
    b = 0.7 * a + 0.6 * rng.random(n)  # correlated with a, as two models of one population are
    _, s = delong(y, np.vstack([a, b]))
    sd = np.sqrt(s[0, 0] + s[1, 1] - 2 * s[0, 1])
    idx = rng.integers(0, n, (400, n))
    boot = [roc_auc_score(y[i], a[i]) - roc_auc_score(y[i], b[i]) for i in idx]
    assert sd == pytest.approx(np.std(boot), rel=0.15)
