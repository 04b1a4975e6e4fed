"""Writing a 1M-row predictions CSV: the service's writer and the CLI's against pandas' ``to_csv``.

    python benchmarks/bench_writing.py [--rows 1000000] [--repeats 3] [--no-pandas]

Builds a predictions frame shaped like a bulk job's output (customer id, churn probability to 4
decimals, risk segment, spend total and six categories to cents, a reason text of about 90
characters; 2 % of the spends missing), then times, alternating in one process:

* ``service``: ``hcl_server.services.exports.write_csv`` (formula-escaped, what a bulk job writes);
* ``cli``: ``ml_pipeline.data.writing.write_frame_csv`` (what ``python -m ml_pipeline predict`` writes);
* ``pandas``: ``DataFrame.to_csv(index=False)``, which both replaced.

Checks that the CLI's file is byte for byte pandas' (and the service's too: this frame holds no
text a spreadsheet would run). Prints JSON: medians, every run, and the ratio to pandas. Issue 16's
goal for the 1M-row file: at most 3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hcl_server.services.exports import write_csv  # noqa: E402
from ml_pipeline.data.writing import write_frame_csv  # noqa: E402

CATEGORIES = ["grocery", "electronics", "apparel", "home", "beauty", "other"]
REASONS = [
    "No purchase for 212 days (usually every 31 days); spend fell 64% against the year before",
    "Bought 14 times in the last year; last purchase 9 days ago",
    "Two failed payments in the last 30 days; support tickets up from 0 to 3",
    "First purchase 41 days ago, no second purchase yet",
]


def predictions_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """A bulk job's predictions for ``rows`` customers (random values of the real columns' kinds)."""
    rng = np.random.default_rng(seed)
    churn = rng.beta(2, 3, rows).round(4)
    spend = {f"spend_{c}": rng.gamma(0.6, 40.0, rows).round(2) for c in CATEGORIES}
    for values in spend.values():
        values[rng.random(rows) < 0.02] = np.nan
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:08d}" for i in range(rows)],
            "churn_probability": churn,
            "risk_segment": np.array(["low", "medium", "high", "critical"], dtype=object)[
                np.digitize(churn, [0.3, 0.5, 0.7])
            ],
            "spend_total": np.nansum(np.column_stack(list(spend.values())), axis=1).round(2),
            **spend,
            "reasons": np.array(REASONS, dtype=object)[rng.integers(0, len(REASONS), rows)],
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-pandas", action="store_true", help="skip pandas' to_csv (the slow reference)")
    args = ap.parse_args()
    frame = predictions_frame(args.rows)
    writers = {
        "service": lambda path: write_csv(frame, path),
        "cli": lambda path: write_frame_csv(frame, path),
    }
    if not args.no_pandas:
        writers["pandas"] = lambda path: frame.to_csv(path, index=False)
    runs: dict[str, list[float]] = {name: [] for name in writers}
    report: dict = {"rows": args.rows, "columns": frame.shape[1], "load_start": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for name, write in writers.items():
                path = Path(tmp) / f"{name}.csv"
                started = time.perf_counter()
                write(path)
                runs[name].append(time.perf_counter() - started)
        report["file_mb"] = round((Path(tmp) / "cli.csv").stat().st_size / 2**20, 1)
        if not args.no_pandas:
            reference = (Path(tmp) / "pandas.csv").read_bytes()
            report["same_bytes_as_pandas"] = {
                name: (Path(tmp) / f"{name}.csv").read_bytes() == reference for name in ("service", "cli")
            }
    for name, values in runs.items():
        report[f"{name}_s"] = round(statistics.median(values), 2)
        report[f"{name}_runs_s"] = [round(v, 2) for v in values]
    if not args.no_pandas:
        report["ratio_to_pandas"] = {
            name: round(report[f"{name}_s"] / report["pandas_s"], 3) for name in ("service", "cli")
        }
    report["load_end"] = os.getloadavg()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
