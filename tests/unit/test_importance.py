"""Feature importance per target: gain shares and mean |contribution| on validation, kept in the
bundle, and bundles written before it still load."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ml_pipeline.data.eventlog import from_frame
from ml_pipeline.models.baselines import LastWindowSpendBaseline, RecencyRateBaseline
from ml_pipeline.models.registry import make_model
from ml_pipeline.serving.bundle import load_bundle, save_bundle
from ml_pipeline.training.importance import MAX_ROWS, importance
from ml_pipeline.training.trainer import TrainConfig, train

AMOUNT_FEATURES = {
    "monetary_7d",
    "monetary_30d",
    "monetary_90d",
    "monetary_180d",
    "monetary_365d",
    "monetary_all",
    "avg_transaction_value",
    "spend_prev_90d",
    "basket_avg",
    "basket_max",
    "visit_spend_max",
    "monetary_score",
}


def spend_driven_log(n_customers: int = 2000, days: int = 400, seed: int = 3) -> pd.DataFrame:
    """Every customer buys on a day with chance 1/7, an amount around a level of their own spread
    over two orders of magnitude: what they spent before is all that tells their future spend
    apart."""
    rng = np.random.default_rng(seed)
    level = rng.lognormal(3.0, 0.8, n_customers)
    buys = rng.random((n_customers, days)) < 1 / 7
    customer, day = np.nonzero(buys)
    amount = np.round(level[customer] * rng.lognormal(0.0, 0.8, len(customer)), 2)
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{c:04d}" for c in customer],
            "event_date": np.datetime64("2024-01-01") + day,
            "amount": amount,
        }
    )
    frame["event_date"] = frame["event_date"].astype(str)
    frame["event_type"] = "purchase"
    return frame


@pytest.fixture(scope="module")
def driven():
    log = from_frame(spend_driven_log())
    return log, train(log, TrainConfig(n_cutoffs=6, models=("lightgbm",), top_categories=0))


def test_the_driving_feature_ranks_first_for_spend(driven):
    _, result = driven
    record = result.importance["spend_total"]
    assert record["predictor"] == "lightgbm" and record["unit"] == "log of the mean spend"
    top = record["features"][0]
    assert top["feature"] in AMOUNT_FEATURES, record["features"][:5]
    other = max(f["mean_abs_contribution"] for f in record["features"] if f["feature"] not in AMOUNT_FEATURES)
    assert top["mean_abs_contribution"] > 3 * other
    assert record["rows"] == record["validation_rows"] == result.dataset["validation_rows"]
    shares = [f["gain"] for f in record["features"]]
    assert sum(shares) == pytest.approx(1.0)
    contribution = [f["mean_abs_contribution"] for f in record["features"]]
    assert contribution == sorted(contribution, reverse=True)


def test_every_target_has_importance(driven):
    _, result = driven
    assert set(result.importance) == set(result.targets)
    assert result.timings["importance_s"] >= 0


def test_one_feature_drives_the_target_for_every_model_type():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(4000, 4)), columns=["driver", "weak", "noise_a", "noise_b"])
    y = rng.poisson(np.exp(1.0 + 1.2 * X["driver"] + 0.2 * X["weak"])).astype(float)
    for kind in ("lightgbm", "xgboost", "random_forest", "linear"):
        model = make_model(kind, "tweedie", num_threads=1).fit(X[:3000], y[:3000], n_rounds=60)
        record = importance(model, X[3000:])
        assert record["features"][0]["feature"] == "driver", (kind, record["features"])
        by_gain = max(record["features"], key=lambda f: f["gain"])
        assert by_gain["feature"] == "driver", kind
        assert sum(f["gain"] for f in record["features"]) == pytest.approx(1.0), kind
        assert record["gain_missing"] is None and record["method"] == "exact"


def test_a_baseline_has_no_gain_and_its_feature_gets_the_contribution():
    X = pd.DataFrame({"monetary_30d": [0.0, 10.0, 30.0], "recency_days": [5.0, 50.0, 100.0]})
    spend = importance(LastWindowSpendBaseline("monetary_30d", 1.0).fit(X, np.zeros(3)), X)
    assert spend["gain_missing"].startswith("a baseline")
    assert [f["feature"] for f in spend["features"]] == ["monetary_30d"]
    assert spend["features"][0] == {"feature": "monetary_30d", "gain": None, "mean_abs_contribution": 40 / 3}
    assert spend["unit"] == "spend amount"
    churn = importance(RecencyRateBaseline(bins=2).fit(X, np.array([0.0, 1.0, 1.0])), X)
    assert churn["unit"] == "log-odds" and [f["feature"] for f in churn["features"]] == ["recency_days"]


def test_validation_rows_are_sampled_beyond_the_limit(monkeypatch):
    import ml_pipeline.training.importance as module

    monkeypatch.setattr(module, "MAX_ROWS", 50)
    X = pd.DataFrame({"monetary_30d": np.arange(200.0)})
    record = module.importance(LastWindowSpendBaseline("monetary_30d").fit(X, np.zeros(200)), X)
    assert record["rows"] == 50 and record["validation_rows"] == 200
    assert MAX_ROWS == 5_000


def test_bundle_keeps_importance_and_old_bundles_still_load(driven, tmp_path):
    log, result = driven
    path = save_bundle(result, log, tmp_path / "bundle")
    bundle = load_bundle(path)
    assert bundle.importance == json.loads(json.dumps(result.importance))
    meta = json.loads((path / "metadata.json").read_text())
    del meta["importance"]
    (path / "metadata.json").write_text(json.dumps(meta))
    old = load_bundle(path)
    assert old.importance == {}
    X = result.builder.transform(log, int(log.day[-1]) + 1)
    assert len(old.predictors["spend_total"].predict(X)) == len(X)
