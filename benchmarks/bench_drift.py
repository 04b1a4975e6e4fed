"""Time of the drift comparison (ml_pipeline.monitoring.compare) on a large scored population,
and of its pieces as a bulk job runs them: one partition's counts, their sum and the report.

    python benchmarks/bench_drift.py [--rows 1000000] [--features 100] [--runs 3] [--partition-rows 100000]

Builds a reference from 200,000 synthetic rows (float32 features of several shapes: skewed,
counts with few distinct values, 5% missing), then times ``compare`` of ``--rows`` new rows,
shifted a little, with two predictions and a category group. Then times ``counts`` of one bulk
partition of ``--partition-rows`` rows (what every partition task adds to its scoring), and
``sum_counts`` + ``report`` over the partitions of ``--rows`` (the job's drift task). Prints the
median of the runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ml_pipeline.monitoring import build_reference, compare, counts, report, sum_counts  # noqa: E402


def frame(rows: int, features: int, rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    """``features`` float32 columns: exponential, gamma, small counts, normal; 5% missing in some."""
    cols = {}
    for j in range(features):
        kind = j % 4
        if kind == 0:
            v = rng.exponential(30.0 + shift, rows)
        elif kind == 1:
            v = rng.gamma(2.0, 50.0, rows) * (1 + shift / 100)
        elif kind == 2:
            v = rng.poisson(3.0 + shift / 20, rows).astype(float)
        else:
            v = rng.normal(shift / 10, 1.0, rows)
        if j % 5 == 0:
            v[rng.random(rows) < 0.05] = np.nan
        cols[f"f{j:03d}"] = v.astype(np.float32)
    return pd.DataFrame(cols)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--partition-rows", type=int, default=100_000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)

    ref_rows = 200_000
    X_ref = frame(ref_rows, args.features, rng)
    preds_ref = {"churn_probability": rng.beta(2, 5, ref_rows), "spend_total": rng.gamma(2.0, 40.0, ref_rows)}
    started = time.perf_counter()
    reference = build_reference(X_ref, preds_ref, {"category_spend": {"a": 5.0, "b": 3.0, "c": 2.0}})
    print(
        f"build_reference: {ref_rows:,} rows x {args.features} features in {time.perf_counter() - started:.2f} s"
    )

    X = frame(args.rows, args.features, rng, shift=5.0)
    preds = {"churn_probability": rng.beta(2, 4, args.rows), "spend_total": rng.gamma(2.0, 45.0, args.rows)}
    categories = {"category_spend": {"a": 5.0, "b": 3.0, "d": 1.0}}
    times = []
    for _ in range(args.runs):
        started = time.perf_counter()
        drift = compare(reference, X, preds, categories)
        times.append(time.perf_counter() - started)
    print(
        f"compare: {args.rows:,} rows x {args.features} features + 2 predictions: "
        f"median {statistics.median(times):.2f} s of {args.runs} runs "
        f"({', '.join(f'{t:.2f}' for t in times)}); {len(drift['alerts'])} alerts"
    )
    _pieces(reference, X, preds, categories, args, drift)


def _median_ms(step, runs: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        started = time.perf_counter()
        out = step()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times), out


def _pieces(reference: dict, X: pd.DataFrame, preds: dict, categories: dict, args, whole: dict) -> None:
    """One partition's counts; the sum over the partitions of the population and its report."""
    n = args.partition_rows
    part = X.iloc[:n]
    ms, _ = _median_ms(
        lambda: counts(reference, part, {k: v[:n] for k, v in preds.items()}, categories), args.runs
    )
    print(
        f"counts of one partition: {len(part):,} rows x {args.features} features + 2 predictions: median {ms:.0f} ms"
    )
    pieces = [
        counts(reference, X.iloc[lo : lo + n], {k: v[lo : lo + n] for k, v in preds.items()}, categories)
        for lo in range(0, len(X), n)
    ]
    ms, drift = _median_ms(lambda: report(reference, sum_counts(pieces)), args.runs)
    print(f"sum_counts + report over {len(pieces)} partitions: median {ms:.0f} ms")
    # every piece carried the same category weights, so only the category shares may differ
    assert drift["features"] == whole["features"] and drift["predictions"] == whole["predictions"]


if __name__ == "__main__":
    main()
