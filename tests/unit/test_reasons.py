"""Reasons: contributions grouped into people's terms and phrased with the customer's numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_pipeline.data.eventlog import from_frame
from ml_pipeline.explain.phrases import phraser
from ml_pipeline.explain.reasons import Reasons, group_matrix, split
from ml_pipeline.features import declared_names
from ml_pipeline.serving.bundle import load_bundle, save_bundle
from ml_pipeline.serving.scoring import predict
from ml_pipeline.training.trainer import TrainConfig, train

FEATURES = [
    "recency_days",
    "overdue_ratio",
    "days_between_transactions",
    "frequency_all",
    "frequency_90d",
    "frequency_180d",
    "tenure_days",
    "monetary_90d",
    "spend_prev_90d",
    "engagement_score",
    "cat_grocery_spend_30d",
    "cat_grocery_spend_90d",
    "cat_grocery_share",
    "mystery_feature",
]
NAMES = {"categories": {"grocery": "GROCERY"}, "event_types": {}}


def test_groups_keep_the_total_contribution():
    groups, weights = group_matrix(FEATURES)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)  # nothing lost, nothing counted twice
    assert {"recency", "frequency", "value", "cat:grocery", "feature:mystery_feature"} <= set(groups)
    # recency_days and overdue_ratio say the same thing: one group
    assert weights[0].argmax() == weights[1].argmax() == groups.index("recency")


def test_every_declared_reason_group_has_a_phrase():
    """A group a feature declares beside its code (ml_pipeline.features) is one the phrases know."""
    builder_names = declared_names(["grocery", "other"], ["login"])
    groups, _ = group_matrix(builder_names)
    assert not [g for g in groups if g.startswith("feature:")]  # every feature has a group of its own
    names = {"categories": {"grocery": "GROCERY", "other": "other"}, "event_types": {"login": "login"}}
    for g in groups:
        phraser(g, names)  # raises KeyError for a group without a phrase


def _row(**values) -> np.ndarray:
    row = np.full(len(FEATURES), np.nan)
    for name, v in values.items():
        row[FEATURES.index(name)] = v
    return row


def _contrib(**pushes) -> np.ndarray:
    row = np.zeros(len(FEATURES))
    for name, v in pushes.items():
        row[FEATURES.index(name)] = v
    return row


def test_reasons_are_phrased_with_the_customers_numbers_largest_first():
    reasons = Reasons(FEATURES, NAMES)
    values = np.vstack(
        [
            _row(recency_days=64, days_between_transactions=21, frequency_all=5, frequency_90d=0,
                 frequency_180d=3, tenure_days=400, monetary_90d=30, spend_prev_90d=100,
                 cat_grocery_spend_30d=0, cat_grocery_spend_90d=12.5, cat_grocery_share=0.25),
            _row(recency_days=3, days_between_transactions=20, frequency_all=8, frequency_90d=4,
                 frequency_180d=6, tenure_days=50, monetary_90d=80, spend_prev_90d=0),
        ]
    )  # fmt: skip
    contrib = np.vstack(
        [
            # recency split over two features still ranks first (0.5 + 0.3); a negative one is no reason
            _contrib(recency_days=0.5, overdue_ratio=0.3, monetary_90d=0.6, cat_grocery_spend_30d=0.1,
                     frequency_all=-0.9),
            _contrib(tenure_days=0.2, recency_days=-1.0),
        ]
    )  # fmt: skip
    texts = reasons.texts(values, contrib @ reasons.weights)
    assert split(texts[0]) == [
        "no purchase for 64 days, 3.0x the usual gap of 21 days",
        "spend down 70% vs the previous 90 days (30.00 vs 100.00)",
        "GROCERY: spend 0.00 in the last 30 days, 12.50 in 90 days (25% of all spend)",
    ]
    assert split(texts[1]) == ["customer for 50 days"]  # only one group pushes the risk up
    assert split("") == []


def test_phrases_for_lapsed_spend_and_categories():
    reasons = Reasons(FEATURES, NAMES)
    values = np.vstack(
        [
            _row(monetary_90d=0, spend_prev_90d=0, cat_grocery_spend_30d=0, cat_grocery_spend_90d=0,
                 cat_grocery_share=0.4, recency_days=200, frequency_all=1, tenure_days=300),
            _row(monetary_90d=0, spend_prev_90d=0, cat_grocery_spend_30d=0, cat_grocery_spend_90d=0,
                 cat_grocery_share=0, recency_days=120, frequency_all=0, tenure_days=120),
        ]
    )  # fmt: skip
    push = _contrib(monetary_90d=0.3, cat_grocery_share=0.2, recency_days=0.1)
    texts = reasons.texts(values, np.vstack([push, push]) @ reasons.weights)
    assert split(texts[0]) == [
        "no spend in the last 180 days",
        "no GROCERY purchase in the last 90 days (40% of all spend before)",
        "no purchase for 200 days since the only purchase day",
    ]
    # A category the customer never bought is no reason: the next one takes its place.
    assert split(texts[1]) == ["no spend in the last 180 days", "no purchase in 120 days as a customer"]


EVENT_FEATURES = [
    "recency_days",
    "days_between_transactions",
    "frequency_all",
    "tenure_days",
    "refund_count_all",
    "refund_share",
    "other_events_30d",
    "other_events_all",
    "events_failed_payment_30d",
    "events_failed_payment_all",
    "cat_toys_spend_30d",
    "cat_toys_spend_90d",
    "cat_toys_share",
]
EVENT_NAMES = {"categories": {"toys": "TOYS"}, "event_types": {"failed_payment": "failed_payment"}}


def test_a_zero_count_or_an_absent_type_is_no_reason_and_the_next_takes_its_place():
    """A tree that splits on "never had a failed payment" pushes the risk of those who had none up;
    the customer's own numbers do not support that as a cause, so the reason is not given."""
    reasons = Reasons(EVENT_FEATURES, EVENT_NAMES)

    def row(**values):
        r = np.zeros(len(EVENT_FEATURES))
        r[:4] = [80, 20, 4, 300]  # recency, gap, purchase days, tenure
        for name, v in values.items():
            r[EVENT_FEATURES.index(name)] = v
        return r

    values = np.vstack(
        [
            row(),  # never a refund, a non-purchase event, a failed payment or a toy
            row(events_failed_payment_all=3, other_events_all=3),  # had some, none in the last 30 days
            row(events_failed_payment_30d=2, events_failed_payment_all=3, other_events_30d=2,
                other_events_all=3, refund_count_all=1, refund_share=0.1, cat_toys_share=0.2),
            row(cat_toys_spend_90d=np.nan, cat_toys_share=np.nan, refund_count_all=np.nan),  # missing
        ]
    )  # fmt: skip
    push = np.zeros(len(EVENT_FEATURES))
    for name, v in dict(
        events_failed_payment_30d=0.5, other_events_30d=0.4, refund_count_all=0.3, cat_toys_share=0.2,
        recency_days=0.1, tenure_days=0.05,
    ).items():  # fmt: skip
        push[EVENT_FEATURES.index(name)] = v
    texts = reasons.texts(values, np.vstack([push] * len(values)) @ reasons.weights)
    unsupported = ["no purchase for 80 days, 4.0x the usual gap of 20 days", "customer for 300 days"]
    assert split(texts[0]) == unsupported  # fewer than three rather than an untrue one
    assert split(texts[1]) == unsupported
    assert split(texts[2]) == [
        "2 'failed_payment' events in the last 30 days (3 in all)",
        "2 non-purchase events in the last 30 days (3 in all)",
        "1 refund, 10% of purchases by value",
    ]
    assert split(texts[3]) == unsupported
    assert not any("0 '" in t or "no refunds" in t or "never bought" in t for t in texts)


def test_predictions_carry_reasons_from_the_churn_model(small_log_frame, tmp_path):
    log = from_frame(small_log_frame)
    result = train(log, TrainConfig(n_cutoffs=4, models=("lightgbm",)))
    bundle = load_bundle(save_bundle(result, log, tmp_path / "bundle"))
    frame = predict(bundle, log)
    assert list(frame.columns[:3]) == ["customer_id", "churn_probability", "risk_segment"]
    assert frame.columns[-1] == "reasons"
    parts = frame["reasons"].map(split)
    assert parts.map(len).between(0, 3).all() and (parts.map(len) == 3).mean() > 0.5
    assert not frame["reasons"].str.contains("nan").any()
    # What the CLI file, the API and a bulk job's stored rows give (all through predict): no zero
    # count, absent event type or category never bought as a cause of higher risk.
    absent = r"(^|; )(0 '|0 non-purchase|no non-purchase events|no refunds|never bought|no basket yet)"
    assert not frame["reasons"].str.contains(absent).any()
    # The customers at the highest risk are mostly told how long they have been away.
    top = frame.nlargest(50, "churn_probability")["reasons"]
    assert top.str.contains("no purchase").mean() > 0.5
    assert "reasons" not in predict(bundle, log, reasons=None).columns
    pd.testing.assert_series_equal(
        predict(bundle, log, reasons="path")["churn_probability"], frame["churn_probability"]
    )


def test_reasons_in_blocks_equal_reasons_in_one_block(small_log_frame, tmp_path, monkeypatch):
    """Large inputs are explained block by block, the next block's contributions computed in a
    second thread while the current one is phrased: same reasons, same order."""
    import ml_pipeline.serving.scoring as scoring

    log = from_frame(small_log_frame)
    result = train(log, TrainConfig(n_cutoffs=4, models=("xgboost",)))
    bundle = load_bundle(save_bundle(result, log, tmp_path / "bundle"))
    whole = predict(bundle, log)["reasons"]
    monkeypatch.setattr(scoring, "REASON_CHUNK", 97)  # 1,500 customers: 16 blocks, the last one short
    pd.testing.assert_series_equal(predict(bundle, log)["reasons"], whole)


@pytest.mark.parametrize("kind", ["lightgbm", "xgboost"])
def test_shared_tree_shap_equals_the_librarys_own(kind, small_log_frame, monkeypatch):
    """Tree SHAP computed once per path pattern of each tree gives the library's numbers."""
    import ml_pipeline.models.tree_shap as contributions
    from ml_pipeline.features import FeatureBuilder
    from ml_pipeline.models import TrainingRows
    from ml_pipeline.models.registry import make_model

    log = from_frame(small_log_frame)
    builder = FeatureBuilder().fit(log)
    X = pd.concat([builder.transform(log, int(log.day[-1]) - t) for t in (0, 60, 120)], ignore_index=True)
    y = (X["recency_days"].to_numpy() > 40) ^ (X["frequency_all"].to_numpy() > 3)  # needs interactions
    model = make_model(kind, "binary").fit_on(
        TrainingRows(X), np.arange(len(X)), y.astype(float), n_rounds=25
    )
    values = X.to_numpy(dtype=np.float32, copy=True)
    values[::7, 0] = np.nan  # missing values take the default side, as in the library
    library = model.contributions(values, "exact")
    monkeypatch.setattr(contributions, "SHARE_FROM_ROWS", 0)
    shared = model.contributions(values, "exact")
    np.testing.assert_allclose(shared, library, atol=1e-5)
    assert model._splits is not None  # the shared computation ran
