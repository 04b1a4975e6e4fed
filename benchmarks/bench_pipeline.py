"""Benchmark of ml_pipeline on synthetic logs: features, training and prediction.

    python benchmarks/bench_pipeline.py [--customers 1000000] [--events 10000000] [--repeats 3]

Reports medians of ``--repeats`` runs (the machine is shared and noisy). Generated logs are cached
under benchmarks/data/ (git-ignored). Goals (SPEC §6, 2 cores): features for 1M customers / 10M
events <= 10 s; prediction of all targets for 1M customers <= 30 s. Prediction is timed three
ways: with exact tree-SHAP reasons (the default, ``predict_s``), with path reasons, and without.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ml_pipeline.data.eventlog import load_events  # noqa: E402
from ml_pipeline.data.synthetic import generate_events, write_events  # noqa: E402
from ml_pipeline.features import FeatureBuilder  # noqa: E402
from ml_pipeline.serving.bundle import load_bundle, save_bundle  # noqa: E402
from ml_pipeline.serving.scoring import predict  # noqa: E402
from ml_pipeline.training.trainer import TrainConfig, train  # noqa: E402

DATA = ROOT / "benchmarks" / "data"


def cached_log(customers: int, events: int, seed: int) -> Path:
    path = DATA / f"synth_{customers}_{events}_{seed}.parquet"
    if not path.exists():
        print(f"generating {customers:,} customers / {events:,} events -> {path.name}", file=sys.stderr)
        write_events(generate_events(customers, events, seed=seed), path)
    return path


def timed(fn, repeats: int) -> tuple[float, list[float], object]:
    runs, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs), runs, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--train-customers", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--bundle", metavar="DIR", help="score with this trained bundle instead of training one (no train_s)"
    )
    args = ap.parse_args()
    report: dict = {"customers": args.customers, "events": args.events}

    path = cached_log(args.customers, args.events, seed=1)
    t, _, log = timed(lambda: load_events(path), 1)
    report["load_s"] = round(t, 2)
    as_of = int(log.day[-1]) + 1
    builder = FeatureBuilder().fit(log)

    def features():
        log.cache.clear()  # count the per-log grouping (visits) in every run
        return builder.transform(log, as_of)

    t, runs, X = timed(features, args.repeats)
    report["features_s"] = round(t, 2)
    report["features_runs_s"] = [round(r, 2) for r in runs]
    report["feature_count"] = X.shape[1]
    report["scored_customers"] = X.shape[0]

    with tempfile.TemporaryDirectory() as tmp:
        if args.bundle:
            bundle = load_bundle(args.bundle)
        else:
            train_path = cached_log(args.train_customers, args.train_customers * 10, seed=2)
            train_log = load_events(train_path)
            t, _, result = timed(lambda: train(train_log, TrainConfig()), 1)
            report["train_s"] = round(t, 1)
            report["train_rows"] = result.dataset["rows"]
            report["train_cutoffs"] = len(result.plan.cutoffs)
            report["train_timings"] = result.timings  # features, each target's models, importance
            bundle = load_bundle(save_bundle(result, train_log, Path(tmp) / "bundle"))
        report["churn_model"] = bundle.metadata["targets"]["churn"]["selected"]

        def score(reasons):
            log.cache.clear()
            return predict(bundle, log, as_of, reasons=reasons)

        for reasons, key in (
            ("exact", "predict"),
            ("path", "predict_path_reasons"),
            (None, "predict_no_reasons"),
        ):
            t, runs, preds = timed(lambda reasons=reasons: score(reasons), args.repeats)
            report[f"{key}_s"] = round(t, 2)
            report[f"{key}_runs_s"] = [round(r, 2) for r in runs]
    report["predicted_targets"] = len(bundle.target_names)
    report["predicted_rows"] = len(preds)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
