"""Short histories still get forecasts: shorter windows where they fit, otherwise BG/NBD +
Gamma-Gamma on the whole history; only a log no model can be fit on is refused."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ml_pipeline.cli import main
from ml_pipeline.data.eventlog import from_frame
from ml_pipeline.data.synthetic import generate_events
from ml_pipeline.errors import PipelineError
from ml_pipeline.models.btyd_fallback import BTYDFallback
from ml_pipeline.serving.bundle import load_bundle, save_bundle
from ml_pipeline.serving.scoring import predict
from ml_pipeline.training.metrics import better
from ml_pipeline.training.trainer import TrainConfig, train
from ml_pipeline.training.windows import choose_plan

FAST = TrainConfig(models=("lightgbm", "linear"), num_threads=1)


def _columns(bundle) -> list[str]:
    cats = [f"spend_{c}" for c in bundle.metadata["categories"]]
    return ["customer_id", "churn_probability", "risk_segment", "spend_total", *cats, "reasons"]


def _cut(frame: pd.DataFrame, days: int) -> pd.DataFrame:
    return frame[frame["event_date"] < frame["event_date"].min() + pd.Timedelta(days=days)]


@pytest.fixture(scope="module")
def months_frame() -> pd.DataFrame:
    """A shop with 120 days of events: the first 90 or 21 of them are the short logs."""
    return generate_events(n_customers=800, n_events=12_000, days=120, seed=4)


def test_the_default_plan_is_kept_when_it_fits():
    plan, why = choose_plan(0, 500)
    assert why == "" and len(plan.cutoffs) == 12 and plan.min_history_days == 60


def test_a_shorter_plan_keeps_the_validation_honest():
    plan, why = choose_plan(0, 90)  # the default needs 60 + 30 + 30 = 120 days
    assert plan.min_history_days == 30 and len(plan.training) == 1 and len(plan.validation) == 1
    assert "shorter windows" in why and "spans 90 days" in why and "needs 120" in why
    plan, _ = choose_plan(0, 100)  # room for more training cutoffs with a smaller step
    assert plan.min_history_days == 30 and plan.step_days < 30 and len(plan.training) >= 2
    assert max(plan.training) + plan.label_days <= min(plan.validation)
    assert min(plan.cutoffs) - 0 >= plan.min_history_days


def test_no_plan_fits_a_three_week_log_and_the_reason_names_the_way_out():
    plan, why = choose_plan(0, 21)
    assert plan is None
    assert "spans 21 days" in why and "at least 74" in why
    assert "--horizon-days" in why and "horizon_days" in why


def test_three_months_train_with_shorter_windows_and_predict(months_frame, tmp_path):
    log = from_frame(_cut(months_frame, 90))
    result = train(log, FAST)
    assert result.training["model"] == "rolling_windows"
    assert (
        result.training["why"].startswith("shorter windows") and result.warnings[0] == result.training["why"]
    )
    assert result.plan.min_history_days < 60 and result.dataset["validation_rows"] > 0
    assert max(result.plan.training) + result.plan.label_days <= min(result.plan.validation)
    for r in result.targets.values():
        # BG/NBD + Gamma-Gamma competed on the same validation rows; where it won it is used
        assert "baseline" in r.metrics and ("roc_auc" in r.metrics["btyd"] or "mae" in r.metrics["btyd"])
        if r.selected == "btyd_fallback":
            assert better(r.name, r.metrics["btyd"], r.metrics["baseline"]) and "it beat" in r.note
        else:
            kept = r.metrics["baseline"] if r.selected == "baseline" else r.metrics["model"]
            assert not better(r.name, r.metrics["btyd"], kept)
    bundle = load_bundle(save_bundle(result, log, tmp_path / "b"))
    assert bundle.metadata["training"] == result.training
    assert bundle.metadata["windows"]["min_history_days"] == result.plan.min_history_days
    out = predict(bundle, log)
    assert list(out.columns) == _columns(bundle) and len(out) == log.n_customers
    assert out["churn_probability"].between(0, 1).all()


@pytest.fixture(scope="module")
def fallback(months_frame, tmp_path_factory):
    log = from_frame(_cut(months_frame, 21))
    result = train(log, FAST)
    bundle = load_bundle(save_bundle(result, log, tmp_path_factory.mktemp("fallback") / "b"))
    return log, result, bundle


def test_three_weeks_train_the_fallback_and_the_metrics_say_why(fallback):
    log, result, bundle = fallback
    assert result.training["model"] == "btyd_fallback" and "spans 21 days" in result.training["why"]
    assert bundle.metadata["training"]["model"] == "btyd_fallback"
    for name, r in result.targets.items():
        assert r.selected == "btyd_fallback" and r.baseline is None
        model = r.metrics["model"]
        assert model["type"] == "btyd_fallback" and model["why"] == result.training["why"]
        assert model["validated"] is False and set(model["bgnbd"]) == {"r", "alpha", "a", "b"}
        assert bundle.metadata["targets"][name]["selected"] == "btyd_fallback"
    assert any("BG/NBD" in w and "not validated" in w for w in result.warnings)


def test_the_fallback_predicts_the_same_columns_with_categories_summing_to_the_total(fallback):
    log, result, bundle = fallback
    out = predict(bundle, log)
    assert list(out.columns) == _columns(bundle) and len(out) == log.n_customers
    assert out["churn_probability"].between(0, 1).all() and (out["spend_total"] >= 0).all()
    cats = [f"spend_{c}" for c in bundle.metadata["categories"]]
    np.testing.assert_allclose(out[cats].sum(axis=1), out["spend_total"], rtol=1e-9, atol=1e-9)
    # reasons come from the customers' own numbers, e.g. "no purchase for 12 days ..."
    assert out["reasons"].str.len().gt(0).mean() > 0.5
    assert out["reasons"].str.contains("purchase").any()
    # the saved bundle predicts what the trained predictors do
    X = result.builder.transform(log, int(log.day[-1]) + 1)
    for name, r in result.targets.items():
        np.testing.assert_allclose(bundle.predictors[name].predict(X), r.estimator.predict(X), rtol=1e-9)


def test_the_fallback_ranks_the_next_month(months_frame, fallback):
    """The 21 days fitted; the next 30 days as they happened: churn and spend go the right way."""
    from ml_pipeline.training.metrics import churn_metrics, spend_metrics
    from ml_pipeline.training.targets import build_targets

    log, result, bundle = fallback
    as_of = int(log.day[-1]) + 1
    full = from_frame(_cut(months_frame, 51))
    out = predict(bundle, log, reasons=None).set_index("customer_id")
    codes = pd.Index(full.customer_ids).get_indexer(out.index)
    b = result.builder
    y = build_targets(
        full,
        as_of,
        codes,
        horizon_days=30,
        churn_horizon_days=30,
        top_categories=b.categories_,
        category_targets=b.category_targets_,
    )
    churn = churn_metrics(y["churn"].to_numpy(), out["churn_probability"].to_numpy())
    spend = spend_metrics(y["spend_total"].to_numpy(), out["spend_total"].to_numpy())
    assert churn["roc_auc"] > 0.6 and spend["spearman"] > 0.2
    assert 0.3 < spend["total_ratio"] < 3


def test_shapley_contributions_add_up_to_the_risk_against_the_median_customer(fallback):
    log, result, bundle = fallback
    churn: BTYDFallback = result.targets["churn"].estimator
    X = result.builder.transform(log, int(log.day[-1]) + 1)
    contrib = churn.contributions(X)
    p = np.clip(churn.predict(X), 1e-6, 1 - 1e-6)
    ref = churn.player_score(*(np.array([v]) for v in churn.reference_))
    np.testing.assert_allclose(contrib.sum(axis=1), np.log(p / (1 - p)) - ref, atol=1e-8)
    used = np.flatnonzero(np.abs(contrib).sum(axis=0) > 0)
    assert set(X.columns[used]) <= {"frequency_all", "recency_days", "days_since_first_purchase"}
    # a customer with one purchase day: the risk is in the days since it (unless as many as the median's)
    once = (X["frequency_all"].to_numpy() == 1) & (X["recency_days"].to_numpy() != churn.reference_[1])
    assert once.any() and (np.abs(contrib[once][:, list(X.columns).index("recency_days")]) > 0).all()


def test_a_single_day_log_is_refused_with_the_reason(tmp_path):
    frame = generate_events(n_customers=200, n_events=2000, days=30, seed=1)
    frame = frame.assign(event_date=pd.Timestamp("2024-12-31")).drop_duplicates()
    with pytest.raises(PipelineError, match=r"every purchase is on one day \(2024-12-31\).*at least 2 days"):
        train(from_frame(frame), FAST)


def test_a_handful_of_returning_customers_is_refused_with_the_numbers():
    rows = [(f"C{i}", f"2024-03-{1 + i % 20:02d}", 10.0) for i in range(30)]
    rows += [(f"C{i}", "2024-03-21", 12.0) for i in range(4)]  # 4 come back
    frame = pd.DataFrame(rows, columns=["customer_id", "event_date", "amount"])
    with pytest.raises(PipelineError, match=r"only 4 of 30 customers .* at least 10.*as_of"):
        train(from_frame(frame), FAST)


def test_cli_train_says_which_model_and_why(months_frame, tmp_path, capsys):
    path = tmp_path / "short.csv"
    _cut(months_frame, 21).to_csv(path, index=False)
    out = tmp_path / "m"
    assert main(["train", "--events", str(path), "--out", str(out), "--quiet", "--models", "linear"]) == 0
    text = capsys.readouterr().out
    assert "model: btyd_fallback" in text and "why: the log spans 21 days" in text
    assert json.loads((out / "metadata.json").read_text())["training"]["model"] == "btyd_fallback"
    preds = tmp_path / "p.csv"
    assert main(["predict", "--model", str(out), "--events", str(path), "--out", str(preds), "--quiet"]) == 0
    assert pd.read_csv(preds)["spend_total"].ge(0).all()


def test_the_bgnbd_formulas_are_lifetimes(fallback):
    """The numpy formulas the fallback scores with give what lifetimes' BetaGeoFitter gives."""
    from lifetimes import BetaGeoFitter

    from ml_pipeline.models.bgnbd import bgnbd_quantities

    params = fallback[1].targets["churn"].estimator.bgnbd_
    rng = np.random.default_rng(0)
    T = rng.uniform(1, 400, 500)
    x = np.where(rng.random(500) < 0.3, 0.0, rng.integers(1, 60, 500).astype(float))
    t_x = np.where(x > 0, rng.uniform(0, 1, 500) * T, 0.0)
    bg = BetaGeoFitter()
    bg.params_ = pd.Series(params)
    alive, purchases, _ = bgnbd_quantities(params, x, t_x, T, 30)
    np.testing.assert_allclose(alive, bg.conditional_probability_alive(x, t_x, T), rtol=1e-9)
    expected = bg.conditional_expected_number_of_purchases_up_to_time(30, x, t_x, T)
    np.testing.assert_allclose(purchases, expected, rtol=1e-9)


def test_a_degenerate_bgnbd_fit_gives_finite_purchase_days():
    """a and b near 0 (hardly any dropout, as a 3-week log can fit) overflowed to 1.8e308."""
    from ml_pipeline.models.bgnbd import bgnbd_quantities

    params = {"r": 2.0, "alpha": 10.0, "a": 3.661e-25, "b": 1.137e-16}
    x, t_x, age = np.array([1.0, 0.0, 5.0]), np.array([17.0, 0.0, 15.0]), np.array([17.0, 3.0, 16.0])
    alive, purchases, none = bgnbd_quantities(params, x, t_x, age, 30)
    assert np.isfinite(purchases).all() and (purchases >= 0).all()
    assert purchases[0] == pytest.approx(alive[0] * 3 / 27 * 30)  # the NBD limit


def test_the_fallback_has_importance_without_gain_or_validation_rows(fallback):
    log, result, bundle = fallback
    assert set(bundle.importance) == set(result.targets)
    for record in bundle.importance.values():
        assert record["predictor"] == "btyd_fallback" and record["rows"] == 0 and record["features"] == []
        assert "BG/NBD" in record["gain_missing"] and "not validated" in record["contribution_missing"]
