"""Training, validation honesty, small-data fallback, and bundles that predict the same numbers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ml_pipeline.data.eventlog import from_frame
from ml_pipeline.data.synthetic import generate_events
from ml_pipeline.serving.bundle import load_bundle, save_bundle
from ml_pipeline.serving.scoring import predict, risk_segments
from ml_pipeline.training.trainer import TrainConfig, build_dataset, train


@pytest.fixture(scope="module")
def trained(small_log_frame):
    log = from_frame(small_log_frame)
    return log, train(log, TrainConfig(n_cutoffs=8))


def test_every_target_has_model_and_baseline_metrics(trained):
    log, result = trained
    names = list(result.targets)
    assert names[:2] == ["churn", "spend_total"]
    assert len(names) == 2 + 6  # 5 top categories + other
    for r in result.targets.values():
        assert "baseline" in r.metrics and "model" in r.metrics
    churn = result.targets["churn"].metrics["model"]
    assert 0.5 < churn["roc_auc"] <= 1 and churn["n"] == result.dataset["validation_rows"]
    # the validation reliability table of model and baseline: every validation customer, once
    for who in ("model", "baseline"):
        table = result.targets["churn"].metrics[who]["reliability"]
        assert sum(r["n"] for r in table) == churn["n"] and len(table) <= 10
        assert all(r["lo"] - 1e-9 <= r["mean_predicted"] <= r["hi"] + 1e-9 for r in table)


def test_validation_rows_are_the_latest_cutoff_only(trained):
    log, result = trained
    X, Y, cut = build_dataset(log, result.builder, result.plan)
    assert result.dataset["validation_rows"] == int((cut == result.plan.validation[0]).sum())
    assert result.dataset["training_rows"] == int(np.isin(cut, result.plan.training).sum())
    assert max(result.plan.training) + result.plan.label_days <= min(result.plan.validation)


def test_bundle_round_trip_predicts_the_same_numbers(trained, tmp_path):
    log, result = trained
    path = save_bundle(result, log, tmp_path / "bundle")
    meta = json.loads((path / "metadata.json").read_text())
    assert meta["features"] == result.builder.feature_names_
    assert len(meta["training_data"]["sha256"]) == 64
    assert {"lightgbm", "numpy", "pandas", "python"} <= set(meta["library_versions"])
    assert meta["risk_thresholds"] == {"medium": 0.3, "high": 0.5, "critical": 0.7}
    bundle = load_bundle(path)
    X = result.builder.transform(log, int(log.day[-1]) + 1)
    for name, r in result.targets.items():
        np.testing.assert_allclose(bundle.predictors[name].predict(X), r.estimator.predict(X), rtol=1e-6)
    out = predict(bundle, log)
    assert list(out.columns[:4]) == ["customer_id", "churn_probability", "risk_segment", "spend_total"]
    assert out.columns[-1] == "reasons"
    assert len(out) == log.n_customers and out["customer_id"].is_unique
    assert out["churn_probability"].between(0, 1).all() and (out["spend_total"] >= 0).all()


def test_risk_segments_at_the_thresholds():
    p = np.array([0.0, 0.29, 0.3, 0.49, 0.5, 0.69, 0.7, 1.0])
    seg = risk_segments(p, {"medium": 0.3, "high": 0.5, "critical": 0.7})
    assert list(seg) == ["Low", "Low", "Medium", "Medium", "High", "High", "Critical", "Critical"]


def test_fifty_customers_train_and_say_where_the_baseline_is_used(tmp_path):
    log = from_frame(generate_events(n_customers=50, n_events=600, days=400, seed=3))
    result = train(log, TrainConfig())
    for r in result.targets.values():
        assert "baseline" in r.metrics
        assert (r.selected != "baseline") == ("model" in r.metrics and not r.note)
        if r.selected == "baseline":
            assert r.note.startswith("baseline used") and any(r.name in w for w in result.warnings)
    # A baseline churn predictor still gives reasons: recency, for customers above the mean rate.
    assert result.targets["churn"].selected == "baseline"
    frame = predict(load_bundle(save_bundle(result, log, tmp_path / "bundle")), log)
    given = frame["reasons"] != ""
    assert given.any() and frame.loc[given, "reasons"].str.contains("purchase").all()
    assert frame.loc[given, "churn_probability"].min() > frame.loc[~given, "churn_probability"].max()


def test_too_few_rows_fall_back_to_the_baseline():
    log = from_frame(generate_events(n_customers=15, n_events=200, days=400, seed=3))
    result = train(log, TrainConfig())
    assert all(r.selected == "baseline" for r in result.targets.values())
    assert all("training rows" in r.note for r in result.targets.values())


def test_fingerprint_changes_with_the_data(small_log_frame, tmp_path):
    from ml_pipeline.serving.bundle import fingerprint

    a = from_frame(small_log_frame)
    changed = small_log_frame.copy()
    changed.loc[changed.index[0], "amount"] += 1
    assert fingerprint(a) == fingerprint(from_frame(small_log_frame.copy()))
    assert fingerprint(a) != fingerprint(from_frame(changed))


def test_predict_uses_training_categories_even_if_new_ones_appear(trained, tmp_path):
    log, result = trained
    bundle = load_bundle(save_bundle(result, log, tmp_path / "b"))
    frame = log.to_frame()
    frame.loc[frame.index[:100], "category"] = "BRAND_NEW"
    out = predict(bundle, from_frame(frame.astype({"event_date": "string"})))
    assert [c for c in out.columns if c.startswith("spend_")] == [
        n for n in bundle.target_names if n != "churn"
    ]
    assert isinstance(out, pd.DataFrame)


def test_churn_calibration_sets_the_mean_to_the_windows_rate():
    from ml_pipeline.models import LightGBMModel

    rng = np.random.default_rng(3)
    X = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(size=2000)})
    y = (rng.random(2000) < 1 / (1 + np.exp(-X["a"].to_numpy()))).astype(float)
    model = LightGBMModel("binary").fit(X, y, n_rounds=30)
    later = (rng.random(2000) < 0.8).astype(float)  # a window where more customers churn
    before = model.predict(X)
    model.calibrate(X, later)
    after = model.predict(X)
    assert abs(after.mean() - later.mean()) < 1e-6
    assert np.array_equal(np.argsort(before, kind="stable"), np.argsort(after, kind="stable"))  # ranking kept


@pytest.mark.parametrize("objective", ["binary", "tweedie"])
def test_xgboost_scores_in_place_exactly_as_through_a_dmatrix(objective):
    import xgboost as xgb

    from ml_pipeline.models import XGBoostModel

    rng = np.random.default_rng(5)
    X = rng.normal(size=(3000, 6)).astype(np.float32)
    X[rng.random(X.shape) < 0.15] = np.nan  # missing values take each split's default branch
    signal = np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1])
    y = (rng.random(3000) < 1 / (1 + np.exp(-signal))).astype(float)
    if objective == "tweedie":
        y = y * rng.gamma(2.0, 20.0, size=3000)
    model = XGBoostModel(objective).fit(pd.DataFrame(X), y, n_rounds=40)
    for rows in (X, X[:1], X[17:18]):  # the whole matrix, and one customer as /predict sends
        expected = model.booster_.predict(
            xgb.DMatrix(rows), output_margin=True, iteration_range=(0, model.best_rounds_)
        )
        assert np.array_equal(model.raw(rows), expected.astype(np.float64))


@pytest.mark.parametrize("kind", ["lightgbm", "xgboost", "random_forest", "linear"])
def test_each_model_type_trains_and_its_bundle_predicts_the_same(kind, small_log_frame, tmp_path):
    log = from_frame(small_log_frame)
    result = train(log, TrainConfig(n_cutoffs=4, models=(kind,)))
    churn = result.targets["churn"]
    assert set(churn.metrics["candidates"]) == {kind} and churn.metrics["model"]["type"] == kind
    assert churn.selected in (kind, "baseline")
    bundle = load_bundle(save_bundle(result, log, tmp_path / "bundle"))
    X = result.builder.transform(log, int(log.day[-1]) + 1)
    for name, r in result.targets.items():
        np.testing.assert_allclose(bundle.predictors[name].predict(X), r.estimator.predict(X), rtol=1e-5)
    # Contributions add up to the raw score, up to one base value for every customer.
    churn_model, values = bundle.predictors["churn"], X.to_numpy(dtype=np.float32)
    if churn.selected != "baseline":
        for method in ("exact", "path"):
            gap = churn_model.contributions(values, method).sum(axis=1) - churn_model.raw(values)
            np.testing.assert_allclose(gap, gap[0], atol=1e-4)


def test_unknown_model_type_is_refused():
    from ml_pipeline.errors import PipelineError
    from ml_pipeline.models.registry import parse_models

    assert parse_models("xgboost, linear") == ("xgboost", "linear")
    with pytest.raises(PipelineError, match="unknown model type.*catboost"):
        parse_models("lightgbm,catboost")


def test_candidates_fit_on_a_sample_when_rows_are_many(small_log_frame):
    log = from_frame(small_log_frame)
    result = train(log, TrainConfig(n_cutoffs=4, models=("lightgbm", "linear"), selection_rows=1000))
    assert result.dataset["training_rows"] > 1000
    churn = result.targets["churn"]
    assert set(churn.metrics["candidates"]) == {"lightgbm", "linear"}
    assert churn.selected in ("lightgbm", "linear", "baseline")


def test_baselines_take_the_models_matrix_and_save_like_them(tmp_path):
    """A baseline reads the float32 matrix by the feature names recorded at fit (or set at load),
    and its entry rebuilds it: same predictions and contributions as from the frame."""
    from ml_pipeline.errors import PipelineError
    from ml_pipeline.models import PREDICTORS, LastWindowSpendBaseline, RecencyRateBaseline

    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {"monetary_30d": rng.gamma(2, 50, 500), "recency_days": rng.integers(1, 300, 500)}
    ).astype(np.float32)
    y = (X["recency_days"].to_numpy() > 100).astype(float)
    values = X.to_numpy(dtype=np.float32)
    for baseline in (RecencyRateBaseline(), LastWindowSpendBaseline("monetary_30d", 0.5)):
        baseline.fit(X, y)
        assert list(baseline.feature_names_in_) == list(X.columns)
        entry = baseline.save(tmp_path, "target")
        assert json.loads(json.dumps(entry)) == entry and not any(tmp_path.iterdir())
        loaded = PREDICTORS[baseline.kind].load(entry, tmp_path)
        with pytest.raises(PipelineError, match="not among"):
            loaded.predict(values)  # a matrix needs the names
        loaded.feature_names_in_ = np.asarray(X.columns, dtype=object)
        np.testing.assert_array_equal(loaded.predict(values), baseline.predict(X))
        np.testing.assert_array_equal(loaded.contributions(values), baseline.contributions(X))
        assert loaded.contributions(values, "path", np.ones((2, 1))).shape == (500, 1)


def test_a_linear_model_scores_in_blocks_the_same_numbers_as_at_once(monkeypatch):
    """The linear score is computed in blocks of rows (memory); the numbers are those of the
    whole matrix at once, bit for bit, across block boundaries and with missing values."""
    from ml_pipeline.models import linear

    rng = np.random.default_rng(3)
    X = rng.lognormal(size=(1000, 7)).astype(np.float32)
    X[rng.random(X.shape) < 0.1] = np.nan
    model = linear.LinearModel("tweedie")
    model.mean_, model.scale_ = rng.normal(size=7), rng.random(7) + 0.5
    model.coef_, model.intercept_ = rng.normal(size=7), 0.3
    at_once = model._design(X.astype(np.float64)) @ model.coef_ + model.intercept_
    monkeypatch.setattr(linear, "SCORE_BLOCK_ROWS", 128)  # 8 blocks, the last one short
    assert np.array_equal(model.raw(X), at_once)
    assert model.raw(X[:0]).shape == (0,)
