"""Out-of-time evaluation and the BG/NBD + Gamma-Gamma reference."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_pipeline.data.days import date_to_day, day_to_date
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


def test_backtest_cutoffs_step_back_from_the_last_full_horizon():
    from ml_pipeline.training.evaluation import backtest_cutoffs

    assert backtest_cutoffs(100, 3, horizon_days=30) == [11, 41, 71]  # 71 + 30 - 1 == 100
    assert backtest_cutoffs(100, 2, horizon_days=30, step_days=7) == [64, 71]


def test_backtest_reports_each_cutoff_and_trains_on_the_past_only():
    """Two cutoffs; each cutoff's predictions are unchanged when every event on or after it is
    perturbed (amounts changed, customers added who appear only after it)."""
    from ml_pipeline.data.synthetic import generate_events
    from ml_pipeline.training.evaluation import backtest, backtest_cutoffs, render_backtest, summary_rows
    from ml_pipeline.training.trainer import TrainConfig

    frame = generate_events(n_customers=500, n_events=6000, days=360, seed=3)
    log = from_frame(frame)
    cuts = backtest_cutoffs(int(log.day.max()), 2, horizon_days=30, step_days=45)
    config = TrainConfig(
        horizon_days=30,
        churn_horizon_days=30,
        n_cutoffs=3,
        top_categories=2,
        models=("linear",),
        num_threads=1,
    )
    evs = backtest(log, cuts, horizon_days=30, config=config, keep_predictions=True)
    assert [ev.as_of for ev in evs] == [day_to_date(c) for c in cuts]
    rows = {(r["metric"], r["predictor"]): r for r in summary_rows(evs)}
    auc = rows[("churn ROC-AUC", "ours")]
    assert auc["values"] == [ev.churn["ours"]["roc_auc"] for ev in evs]
    assert np.isclose(auc["mean"], np.mean(auc["values"]))
    assert auc["min"] == min(auc["values"]) and auc["max"] == max(auc["values"])
    assert ("spend Gini", "bgnbd_gg") in rows
    text = render_backtest(evs, markdown=True)
    assert all(ev.as_of in text for ev in evs) and "against the targets" in text and "met" in text

    # leak test at the earlier cutoff: change every event on or after it (amounts, and customers
    # who appear only then); training, features and selection must come out the same
    cut = cuts[0]
    future = (pd.to_datetime(frame["event_date"]) >= pd.Timestamp(day_to_date(cut))).to_numpy()
    changed = frame.copy()
    changed.loc[future, "amount"] = changed.loc[future, "amount"] * 3 + 1
    extra = changed[future].head(50).assign(customer_id=lambda d: "new_" + d["customer_id"].astype(str))
    changed = pd.concat([changed, extra], ignore_index=True)
    ev2 = evaluate(from_frame(changed), cut, horizon_days=30, config=config, keep_predictions=True)
    ev1 = evs[0]
    assert ev1.facts["customers"] == ev2.facts["customers"]
    assert ev1.facts["events_before"] == ev2.facts["events_before"]
    assert ev1.selected == ev2.selected
    p1, p2 = ev1.predictions, ev2.predictions.loc[ev1.predictions.index]
    assert list(p1.columns) == list(p2.columns) and "bgnbd_churn" in p1
    np.testing.assert_allclose(p1.to_numpy(), p2.to_numpy(), rtol=1e-9, atol=1e-9)
    # while the labels did change: the future was really perturbed
    assert ev1.spend["ours"]["mae"] != ev2.spend["ours"]["mae"]


def test_previous_total_is_the_shops_net_spend_in_the_window_before_the_cut():
    from ml_pipeline.training.evaluation import previous_total

    log = from_frame(
        pd.DataFrame(
            {
                "customer_id": ["a", "a", "b", "b", "c"],
                "event_date": ["2021-01-01", "2021-01-12", "2021-01-15", "2021-01-16", "2021-01-20"],
                "amount": [100, 10, 30, -50, 7],
                "event_type": ["purchase", "purchase", "purchase", "refund", "purchase"],
            }
        )
    )
    # window [01-11, 01-21): a 10, b 30 - 50 floored at 0, c 7; the 100 on 01-01 is before it
    assert previous_total(log, date_to_day("2021-01-21"), 10) == 17.0
    assert np.isnan(previous_total(log, date_to_day("2021-01-05"), 10))  # before the first event
