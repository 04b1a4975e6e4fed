"""Which spend reconciliation keeps the total's and the categories' accuracy best on a log?

Trains on the past at each cutoff (as ``evaluate`` does), then scores the raw forecasts and each
reconciliation of ml_pipeline/models/reconcile.py against the next ``--horizon-days``:

    python scripts/spend_reconciliation.py --events FILE --as-of 2017-10-03 2017-11-02 2017-12-02
"""

from __future__ import annotations

import argparse

import numpy as np

from ml_pipeline.data.days import date_to_day
from ml_pipeline.data.eventlog import load_events
from ml_pipeline.models.reconcile import METHODS, reconcile_spend
from ml_pipeline.training.evaluation import features_and_labels
from ml_pipeline.training.metrics import spend_metrics
from ml_pipeline.training.trainer import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", required=True)
    parser.add_argument("--as-of", nargs="+", required=True)
    parser.add_argument("--horizon-days", type=int, default=30)
    args = parser.parse_args()
    log = load_events(args.events)
    config = TrainConfig(horizon_days=args.horizon_days, churn_horizon_days=args.horizon_days)
    print(
        "| as of | reconciliation | total MAE | total Gini | predicted/actual | mean category MAE | mean category Gini |"
    )
    print("|---|---|---|---|---|---|---|")
    for date in args.as_of:
        as_of = date_to_day(date)
        past = log.head(as_of)
        result = train(past, config, as_of=as_of)
        X, Y = features_and_labels(
            log, past, as_of, result.builder, config.horizon_days, config.churn_horizon_days
        )
        names = [t for t in result.targets if t.startswith("spend_") and t != "spend_total"]
        total = result.targets["spend_total"].estimator.predict(X)
        cats = np.column_stack([result.targets[t].estimator.predict(X) for t in names])
        for method in ("none", *METHODS):
            t, c = (total, cats) if method == "none" else reconcile_spend(total, cats, method)
            m = spend_metrics(Y["spend_total"].to_numpy(), t)
            per = [spend_metrics(Y[n].to_numpy(), c[:, j]) for j, n in enumerate(names)]
            print(
                f"| {date} | {method} | {m['mae']:.2f} | {m['gini']:.4f} | "
                f"{m['predicted_total'] / m['actual_total']:.3f} | "
                f"{np.mean([p['mae'] for p in per]):.3f} | {np.mean([p['gini'] for p in per]):.4f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
