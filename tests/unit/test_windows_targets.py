"""Cutoffs, the time-based split, and labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_pipeline.data.days import date_to_day
from ml_pipeline.errors import PipelineError
from ml_pipeline.features import FeatureBuilder
from ml_pipeline.training.targets import build_targets
from ml_pipeline.training.windows import plan_windows


def test_cutoffs_follow_the_formula_and_validation_is_unreached():
    as_of = date_to_day("2021-01-01")
    plan = plan_windows(
        as_of - 1000, as_of, horizon_days=30, churn_horizon_days=45, n_cutoffs=8, step_days=20, n_validation=2
    )
    assert plan.cutoffs == tuple(as_of - 45 - 20 * k for k in range(8))
    assert plan.validation == plan.cutoffs[:2]
    assert plan.training
    for t in plan.training:
        assert t + plan.label_days <= min(plan.validation)  # no training label in the validation period
    assert set(plan.cutoffs[2:]) - set(plan.training) == {plan.cutoffs[2], plan.cutoffs[3]}


def test_short_log_is_refused():
    with pytest.raises(PipelineError, match="spans 100 days"):
        plan_windows(0, 100, horizon_days=30)


def test_labels_by_hand(log_from_rows):
    rows = [
        ("A", "2020-01-05", 10.0, "purchase", "x"),
        ("A", "2020-02-01", 10.0, "purchase", "x"),  # on the cutoff: in the label window
        ("A", "2020-02-03", 6.0, "refund", "x"),
        ("A", "2020-02-20", 5.0, "purchase", "z"),
        ("A", "2020-03-02", 100.0, "purchase", "x"),  # day 30 after the cutoff: outside
        ("B", "2020-01-10", 3.0, "purchase", "y"),
        ("B", "2020-02-10", 0.0, "login", ""),
        ("C", "2020-01-15", 8.0, "purchase", "y"),
        ("C", "2020-02-05", 9.0, "refund", "y"),
        ("D", "2020-01-20", 1.0, "purchase", "y"),
        ("D", "2020-02-15", 2.0, "purchase", "w"),
    ]
    log = log_from_rows(rows)
    t = date_to_day("2020-02-01")
    fb = FeatureBuilder(top_categories=2).fit(log)
    # top 2 by net revenue: x (114) and z (5); y (3, net of a refund) and w (2) pool as other
    assert fb.categories_ == ["x", "z"] and fb.category_targets_ == ["x", "z", "other"]
    customers = np.arange(log.n_customers)

    def labels(horizon_days: int) -> pd.DataFrame:
        y = build_targets(
            log,
            t,
            customers,
            horizon_days=horizon_days,
            churn_horizon_days=30,
            top_categories=fb.categories_,
            category_targets=fb.category_targets_,
        )
        y.index = log.customer_ids[y.index]
        return y

    y = labels(30)
    assert y.loc["A", "churn"] == 0 and y.loc["B", "churn"] == 1 and y.loc["C", "churn"] == 1
    assert y.loc["A", "spend_total"] == pytest.approx(10 - 6 + 5)
    assert y.loc["A", "spend_x"] == pytest.approx(4) and y.loc["A", "spend_z"] == pytest.approx(5)
    assert y.loc["A", "spend_other"] == 0
    assert y.loc["D", "spend_other"] == pytest.approx(2) and y.loc["D", "churn"] == 0
    assert y.loc["C", "spend_total"] == 0  # only a refund: floored at 0, not negative
    assert labels(31).loc["A", "spend_total"] == pytest.approx(109)  # day 30 now inside
