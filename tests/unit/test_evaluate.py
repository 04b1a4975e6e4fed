"""Out-of-time evaluation and the BG/NBD + Gamma-Gamma reference."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_pipeline.data.days import date_to_day
from ml_pipeline.data.eventlog import from_frame
from ml_pipeline.training.btyd import btyd_predict, summarize
from ml_pipeline.training.evaluation import evaluate, render


def test_summary_counts_purchase_days_and_repeat_spend():
    log = from_frame(
        pd.DataFrame(
            {
                "customer_id": ["a", "a", "a", "a", "b", "c"],
                "event_date": [
                    "2021-01-01",
                    "2021-01-01",
                    "2021-01-05",
                    "2021-01-11",
                    "2021-01-03",
                    "2021-01-04",
                ],
                "amount": [10, 5, 20, 30, 7, 0],
                "event_type": ["purchase", "purchase", "purchase", "purchase", "purchase", "visit"],
            }
        )
    )
    as_of = date_to_day("2021-01-21")
    codes = np.array([list(log.customer_ids).index(c) for c in ("a", "b", "c")])
    s = summarize(log, as_of, codes)
    # a: purchase days 1, 5, 11 -> 2 repeats; recency 10; age 20; repeat spend (20 + 30) / 2
    assert s.frequency.tolist() == [2, 0, 0]
    assert s.recency.tolist() == [10, 0, 0]
    assert s.T.tolist() == [20, 18, 17]  # c never bought: aged from its first event
    assert s.monetary.tolist() == [25, 0, 0]


def test_evaluate_compares_three_predictors_on_unseen_days(small_log_frame):
    log = from_frame(small_log_frame)
    as_of = int(log.day[-1]) - 40
    ev = evaluate(log, as_of, horizon_days=30)
    assert set(ev.churn) == {"ours", "naive", "bgnbd"} and set(ev.spend) == {"ours", "naive", "bgnbd_gg"}
    # the labels come from the 30 days after the cut, which training never saw
    future = log.day[(log.day >= as_of) & (log.day < as_of + 30)]
    assert len(future) > 0
    assert ev.churn["ours"]["n"] == ev.facts["customers"]
    assert 0.5 < ev.churn["ours"]["roc_auc"] <= 1
    assert sum(r["n"] for r in ev.reliability) == ev.facts["customers"]
    text = render(ev)
    assert "BG/NBD+GG" in text and "churn reliability" in text
    assert render(ev, markdown=True).count("|---|") >= 3


def test_btyd_predictions_are_probabilities_and_amounts(small_log_frame):
    log = from_frame(small_log_frame)
    as_of = int(log.day[-1]) + 1
    codes = np.unique(log.customer)
    p_none, spend = btyd_predict(summarize(log, as_of, codes), 30)
    assert p_none.shape == spend.shape == (len(codes),)
    assert ((p_none >= 0) & (p_none <= 1)).all() and (spend >= 0).all()
