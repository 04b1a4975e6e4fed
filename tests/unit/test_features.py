"""Features: no leakage by construction, hand-checked values, documentation in step with code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_pipeline.data.days import date_to_day
from ml_pipeline.data.eventlog import from_frame
from ml_pipeline.features import FeatureBuilder, declared_names, describe_feature, features_markdown

RFM = [
    "recency_score",
    "frequency_score",
    "monetary_score",
    "engagement_score",
    "tenure_days",
    "activity_trend",
    "avg_transaction_value",
    "days_between_transactions",
]


def test_features_never_see_events_at_or_after_the_cutoff(small_log_frame):
    """Adding arbitrary events at or after t leaves every feature at t unchanged."""
    cutoff = pd.Timestamp("2024-06-01")
    before = small_log_frame[small_log_frame["event_date"] < cutoff]
    rng = np.random.default_rng(0)
    future = small_log_frame.sample(5000, replace=True, random_state=1).copy()
    future["event_date"] = cutoff + pd.to_timedelta(rng.integers(0, 200, len(future)), unit="D")
    future["amount"] = rng.normal(50, 80, len(future)).round(2)
    future["event_type"] = rng.choice(["purchase", "refund", "login", "support_ticket"], len(future))
    future.loc[future.index[:50], "customer_id"] = "NEWCOMER"  # customers first seen after t
    log_a = from_frame(before)
    log_b = from_frame(pd.concat([before, future]))
    t = date_to_day("2024-06-01")
    builder = FeatureBuilder().fit(log_a)
    fa = builder.transform(log_a, t)
    fb = builder.transform(log_b, t)
    fa.index = log_a.customer_ids[fa.index]
    fb.index = log_b.customer_ids[fb.index]
    assert "NEWCOMER" not in fb.index
    pd.testing.assert_frame_equal(fa.sort_index(), fb.sort_index())


def test_hand_computed_values(log_from_rows):
    log = log_from_rows(
        [
            ("A", "2020-01-01", 10.0, "purchase", "x"),
            ("A", "2020-01-01", 5.0, "purchase", "y"),
            ("A", "2020-01-11", 20.0, "purchase", "x"),
            ("A", "2020-01-12", 4.0, "refund", "x"),
            ("A", "2020-01-31", 30.0, "purchase", "y"),
            ("A", "2020-02-05", 0.0, "login", ""),
            ("B", "2020-01-20", 7.0, "purchase", "y"),
            ("A", "2020-02-10", 99.0, "purchase", "x"),  # on the cutoff: must not count
        ]
    )
    f = FeatureBuilder().fit(log).transform(log, date_to_day("2020-02-10"))
    a = f.loc[np.flatnonzero(log.customer_ids == "A")[0]]
    assert a["recency_days"] == 10  # last purchase 2020-01-31
    assert a["tenure_days"] == 40
    assert a["days_since_last_event"] == 5  # the login
    assert a["frequency_all"] == 3  # purchase days: 01-01, 01-11, 01-31
    assert a["frequency_30d"] == 2  # 01-11 (age 30) and 01-31
    assert a["monetary_all"] == pytest.approx(10 + 5 + 20 - 4 + 30)
    assert a["monetary_7d"] == 0
    assert a["days_between_transactions"] == pytest.approx(15)  # gaps 10 and 20
    assert a["gap_max_days"] == 20 and a["last_gap_days"] == 20
    assert a["overdue_ratio"] == pytest.approx(10 / 15)
    assert a["refund_count_all"] == 1 and a["refund_amount_all"] == 4
    assert a["purchase_events_all"] == 4 and a["basket_max"] == 30
    assert a["other_events_all"] == 1 and a["events_login_all"] == 1
    assert a["cat_x_spend_all"] == pytest.approx(26) and a["cat_y_spend_all"] == pytest.approx(35)
    assert a["n_categories_all"] == 2
    assert a["avg_transaction_value"] == pytest.approx(61 / 3)
    b = f.loc[np.flatnonzero(log.customer_ids == "B")[0]]
    assert b["recency_days"] == 21 and np.isnan(b["days_between_transactions"])
    assert a["recency_score"] > b["recency_score"]


def test_feature_set_size_and_names(small_log_frame):
    plain = small_log_frame.assign(category="", event_type="purchase")
    log = from_frame(plain[plain["amount"] > 0])
    names = FeatureBuilder().fit(log).feature_names_
    assert len(names) >= 45, len(names)  # even without categories or other event types
    assert set(RFM) <= set(names)


def test_top_categories_pool_the_rest(small_log_frame):
    log = from_frame(small_log_frame)
    fb = FeatureBuilder(top_categories=3).fit(log)
    assert len(fb.categories_) == 3 and fb.category_targets_[-1] == "other"
    assert "cat_other_share" in fb.feature_names_


def test_every_feature_is_documented(small_log_frame):
    names = FeatureBuilder().fit(from_frame(small_log_frame)).feature_names_
    assert [n for n in names if describe_feature(n) is None] == []


@pytest.mark.parametrize("variant", ["as_is", "no_categories", "purchases_only", "one_category"])
def test_a_fitted_builder_computes_exactly_the_declared_features_in_order(small_log_frame, variant):
    """Every computed feature is declared (doc and reason group) beside its code, in the order
    computed: per-category and per-event-type patterns expanded over the builder's slugs."""
    frame = {
        "as_is": small_log_frame,
        "no_categories": small_log_frame.assign(category=""),
        "purchases_only": small_log_frame[small_log_frame["event_type"] == "purchase"],
        "one_category": small_log_frame.assign(category="only"),
    }[variant]
    builder = FeatureBuilder(top_categories=3).fit(from_frame(frame))
    declared = declared_names(builder.category_slugs_, builder.event_type_slugs_)
    assert builder.feature_names_ == declared


def test_docs_page_is_generated_from_the_code():
    page = Path(__file__).resolve().parents[2] / "docs" / "features.md"
    assert page.read_text() == features_markdown(), (
        "run: python -m ml_pipeline features --markdown > docs/features.md"
    )


@pytest.mark.parametrize("n_categories", [5, 70])  # bitmask path and sorted-pairs path
def test_distinct_categories_match_pandas(n_categories):
    rng = np.random.default_rng(n_categories)
    frame = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 200, 5000).astype(str),
            "event_date": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 300, 5000), unit="D"),
            "amount": rng.uniform(1, 50, 5000).round(2),
            "category": [f"cat{c}" for c in rng.integers(0, n_categories, 5000)],
        }
    )
    log = from_frame(frame)
    t = date_to_day("2020-08-01")
    got = FeatureBuilder().fit(log).transform(log, t)["n_categories_all"]
    got.index = log.customer_ids[got.index]
    want = frame[frame["event_date"] < "2020-08-01"].groupby("customer_id")["category"].nunique()
    pd.testing.assert_series_equal(
        got.sort_index().astype(int), want.sort_index().astype(int), check_names=False, check_index_type=False
    )


def test_a_customer_scores_the_same_alone_or_in_a_crowd(small_log_frame):
    """Features depend only on the customer's own events (what single predictions and partitions need)."""
    log = from_frame(small_log_frame)
    builder = FeatureBuilder().fit(log)
    t = date_to_day("2024-06-01")
    crowd = builder.transform(log, t)
    crowd.index = log.customer_ids[crowd.index]
    one_id = crowd.index[17]
    alone_log = from_frame(small_log_frame[small_log_frame["customer_id"] == one_id])
    alone = builder.transform(alone_log, t)
    alone.index = alone_log.customer_ids[alone.index]
    pd.testing.assert_frame_equal(alone.loc[[one_id]], crowd.loc[[one_id]])
