"""Which level correction keeps the 30-day spend total closest to actual on a log?

A model pooled over a year of rolling cutoffs predicts the level of the year; the customers'
spend moves (a cohort ages, a season turns). At each backtest cutoff this trains on the past only
(as ``evaluate`` does) and scales every spend target by a factor learned from the past only:

- ``none``: no correction;
- ``latest``: actual / predicted total of the latest labelled window (the production model's own
  fit on it, like the churn model's shift);
- ``mean3``, ``mean6``: the geometric mean of that ratio over the latest 3 or 6 labelled windows;
- ``validation``: actual / predicted of the selection model on the validation window, which it did
  not see (out of sample).

Then it reconciles the categories with the total (the default) and scores the next
``--horizon-days``. First it prints the log's own window totals, back from its end: how far a
window's total moves from the one before bounds what any level learned from the past can do.

    python scripts/spend_level.py --events FILE --cutoffs 5
"""

from __future__ import annotations

import argparse

import numpy as np

from ml_pipeline.data.days import day_to_date
from ml_pipeline.data.eventlog import load_events
from ml_pipeline.models.reconcile import reconcile_named
from ml_pipeline.training.evaluation import backtest_cutoffs, features_and_labels, previous_total
from ml_pipeline.training.metrics import spend_metrics
from ml_pipeline.training.trainer import TrainConfig, build_dataset, train

STRATEGIES = ("none", "latest", "mean3", "mean6", "validation")


def factors(result, X_all, Y_all, cut) -> dict[str, dict[str, float]]:
    """Per strategy, per spend target: the factor its predictions are multiplied by."""
    out = {s: {} for s in STRATEGIES}
    windows = sorted(set(cut.tolist()), reverse=True)  # newest first
    for name, r in result.targets.items():
        if not name.startswith("spend_"):
            continue
        pred = r.estimator.predict(X_all)
        y = Y_all[name].to_numpy()
        ratios = []
        for t in windows:
            m = cut == t
            p = pred[m].sum()
            ratios.append(y[m].sum() / p if p > 0 and y[m].sum() > 0 else 1.0)
        logs = np.log(np.clip(ratios, 1e-3, 1e3))
        chosen = r.metrics.get("model") if r.selected != "baseline" else r.metrics.get("baseline")
        oos = (chosen or {}).get("total_ratio")
        out["none"][name] = 1.0
        out["latest"][name] = float(np.exp(logs[0]))
        out["mean3"][name] = float(np.exp(logs[:3].mean()))
        out["mean6"][name] = float(np.exp(logs[:6].mean()))
        out["validation"][name] = 1.0 / oos if oos and np.isfinite(oos) and oos > 0 else 1.0
    return out


def print_window_totals(log, horizon_days: int) -> None:
    """Each ``horizon_days`` window's total spend, back from the log's end, and its change."""
    last = int(log.day[-1]) + 1
    starts = [t for t in range(last - horizon_days, int(log.day[0]) - 1, -horizon_days)][::-1]
    totals = [previous_total(log, t + horizon_days, horizon_days) for t in starts]
    changes = [b / a - 1 for a, b in zip(totals, totals[1:]) if a > 0]
    print("| window from | total | change vs the window before |\n|---|---|---|")
    for t, total, change in zip(starts, totals, [float("nan"), *changes]):
        print(f"| {day_to_date(t)} | {total:,.0f} | {change:+.1%} |")
    # the first window may hold the customers' first purchases only: left out of the count
    within = sum(abs(c) <= 0.10 for c in changes[1:])
    print(f"\nwindows whose total is within ±10 % of the window before: {within} of {len(changes) - 1}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", required=True)
    parser.add_argument("--cutoffs", type=int, default=5)
    parser.add_argument("--horizon-days", type=int, default=30)
    args = parser.parse_args()
    log = load_events(args.events)
    h = args.horizon_days
    config = TrainConfig(horizon_days=h, churn_horizon_days=h)
    print_window_totals(log, h)
    print(
        "| as of | level | factor (total) | total MAE | total Gini | predicted/actual | mean category Gini |"
    )
    print("|---|---|---|---|---|---|---|")
    for as_of in backtest_cutoffs(int(log.day[-1]), args.cutoffs, h):
        past = log.head(as_of)
        result = train(past, config, as_of=as_of)
        X_all, Y_all, cut = build_dataset(past, result.builder, result.plan)
        X, Y = features_and_labels(log, past, as_of, result.builder, h, h)
        raw = {t: r.estimator.predict(X) for t, r in result.targets.items() if t.startswith("spend_")}
        for strategy, f in factors(result, X_all, Y_all, cut).items():
            spend = reconcile_named({t: np.clip(p * f[t], 0.0, None) for t, p in raw.items()})
            m = spend_metrics(Y["spend_total"].to_numpy(), spend["spend_total"])
            cats = [t for t in spend if t != "spend_total"]
            gini = (
                np.mean([spend_metrics(Y[t].to_numpy(), spend[t])["gini"] for t in cats]) if cats else np.nan
            )
            print(
                f"| {day_to_date(as_of)} | {strategy} | {f['spend_total']:.3f} | {m['mae']:.3f} | "
                f"{m['gini']:.4f} | {m['total_ratio']:.3f} | {gini:.4f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
