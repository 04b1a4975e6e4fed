"""How far can churn ROC-AUC go with our features? An optimistic, in-period upper reference.

Usage: python scripts/churn_ceiling.py --events FILE --as-of DATE [--horizon-days 30] [--markdown]

This is NOT a forecast and its numbers are not validation metrics. It computes our features at
the cut DATE and the churn labels of the DATE..DATE+N window, then fits LightGBM by 5-fold
cross-validation *on those very labels*: each fold learns from the other four folds of the same
window it is scored on and stops early on the scored fold itself. It has no drift to bridge and
peeks at the scored fold, so it should rank at least as well as any model trained on the past
with the same features. `make accuracy` prints it under each log of docs/accuracy.md, next to
BG/NBD's AUC and the issue-4 target (BG/NBD + 0.03).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml_pipeline.data.days import date_to_day  # noqa: E402
from ml_pipeline.data.eventlog import load_events  # noqa: E402
from ml_pipeline.features import FeatureBuilder  # noqa: E402
from ml_pipeline.training.btyd import btyd_predict, summarize  # noqa: E402
from ml_pipeline.training.evaluation import features_and_labels  # noqa: E402
from ml_pipeline.training.tables import text_table  # noqa: E402

# Three settings, from shallow and smooth to the zoo's leaf count; each 5-fold CV is run with
# three shuffles, and the table shows the range.
SETTINGS = ((4, 0.03, 200), (16, 0.03, 100), (31, 0.05, 50))  # leaves, learning rate, min leaf
SEEDS = (0, 1, 2)


def in_period_auc(X, y: np.ndarray, leaves: int, rate: float, min_leaf: int, seed: int) -> float:
    """ROC-AUC of 5-fold CV predictions, each fold stopped early on itself (optimistic)."""
    params = {
        "objective": "binary",
        "num_leaves": leaves,
        "learning_rate": rate,
        "min_data_in_leaf": min_leaf,
        "feature_fraction": 0.8,
        "force_row_wise": True,
        "verbose": -1,
        "seed": seed,
    }
    p = np.zeros(len(y))
    for fit, held in StratifiedKFold(5, shuffle=True, random_state=seed).split(X, y):
        model = lgb.train(
            params,
            lgb.Dataset(X[fit], y[fit]),
            2000,
            valid_sets=[lgb.Dataset(X[held], y[held])],
            callbacks=[lgb.early_stopping(50, verbose=False)],
        )
        p[held] = model.predict(X[held], num_iteration=model.best_iteration)
    return float(roc_auc_score(y, p))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", required=True)
    parser.add_argument("--as-of", required=True, help="the cut date, YYYY-MM-DD")
    parser.add_argument("--horizon-days", type=int, default=30)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)

    log = load_events(args.events)
    as_of = date_to_day(args.as_of)
    past = log.head(as_of)
    builder = FeatureBuilder().fit(past, until_day=as_of)
    frame, labels = features_and_labels(log, past, as_of, builder, args.horizon_days, args.horizon_days)
    customers, y = frame.index.to_numpy(), labels["churn"].to_numpy()
    p_none, _ = btyd_predict(summarize(past, as_of, customers), args.horizon_days)
    bgnbd = float(roc_auc_score(y, p_none))
    X = frame.to_numpy(dtype=np.float32)
    rows = []
    for leaves, rate, min_leaf in SETTINGS:
        aucs = [in_period_auc(X, y, leaves, rate, min_leaf, seed) for seed in SEEDS]
        rows.append(
            [
                f"LightGBM, {leaves} leaves, rate {rate}, min leaf {min_leaf}",
                f"{min(aucs):.3f}–{max(aucs):.3f}",
            ]
        )
    rows += [
        ["BG/NBD (trained on the past)", f"{bgnbd:.3f}"],
        ["target: BG/NBD + 0.03", f"{bgnbd + 0.03:.3f}"],
    ]
    print(
        f"churn ROC-AUC fitted on the {args.horizon_days} days after {args.as_of} themselves "
        f"(5-fold CV x {len(SEEDS)} shuffles; {len(y):,} customers, churn rate {y.mean():.3f}):"
    )
    print(text_table(["predictor", "ROC-AUC"], rows, args.markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
