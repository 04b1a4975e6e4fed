"""Benchmark of ``python -m ml_pipeline predict`` end to end against the peer an analyst would use.

    python benchmarks/bench_cli.py [--repeats 3] [--events FILE] [--bundle DIR] [--reasons exact]

Each repeat runs, in fresh processes one after the other (so both see the same machine load):

* ours: ``python -m ml_pipeline predict`` of the 1M-customer / 10M-event log with a bundle
  trained on the 100k-customer log (``--models lightgbm``; trained once and cached under
  benchmarks/data/), reading, features, 8 targets, exact reasons, writing the CSV;
* the peer: BG/NBD + Gamma-Gamma with ``lifetimes`` on the same file: read it with pandas, the
  RFM summary (``summary_data_from_transaction_data``), fit both models, predict each customer's
  purchases and spend over 30 days, write a CSV.

Both are timed by wall clock with their peak resident memory (``getrusage`` of the finished
child). Prints JSON: medians, every run, the ratio ours / peer and the load average at the start
and end. Goals (issue 16): ours <= 25 s and <= 2 GB, ahead of the peer.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
sys.path.insert(0, str(ROOT / "benchmarks"))

_PEER = """
import sys, warnings
import numpy as np, pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data
warnings.simplefilter("ignore")
events, out, horizon = sys.argv[1], sys.argv[2], 30
frame = pd.read_parquet(events) if events.endswith(".parquet") else pd.read_csv(events)
frame["event_date"] = pd.to_datetime(frame["event_date"])
buys = frame[(frame["event_type"] == "purchase") & (frame["amount"] > 0)]
as_of = frame["event_date"].max() + pd.Timedelta(days=1)
rfm = summary_data_from_transaction_data(
    buys, "customer_id", "event_date", monetary_value_col="amount", observation_period_end=as_of, freq="D"
)
bg = BetaGeoFitter(penalizer_coef=0.001).fit(rfm["frequency"], rfm["recency"], rfm["T"])
repeat = rfm[(rfm["frequency"] > 0) & (rfm["monetary_value"] > 0)]
gg = GammaGammaFitter(penalizer_coef=0.001).fit(repeat["frequency"], repeat["monetary_value"])
purchases = bg.conditional_expected_number_of_purchases_up_to_time(horizon, rfm["frequency"], rfm["recency"], rfm["T"])
alive = bg.conditional_probability_alive(rfm["frequency"], rfm["recency"], rfm["T"])
spend = purchases * gg.conditional_expected_average_profit(rfm["frequency"], rfm["monetary_value"])
pd.DataFrame(
    {"customer_id": rfm.index, "churn_probability": 1 - alive, "purchases": purchases, "spend_total": spend}
).to_csv(out, index=False)
print(len(rfm))
"""


def cached_bundle(train_log: Path) -> Path:
    """A LightGBM bundle trained on ``train_log`` with the CLI, cached under benchmarks/data/."""
    bundle = DATA / f"bundle_lightgbm_{train_log.stem.removeprefix('synth_')}"
    if not (bundle / "metadata.json").exists():
        print(f"training {bundle.name} (once)", file=sys.stderr)
        tmp = DATA / f".{bundle.name}.tmp"
        subprocess.run(
            [sys.executable, "-m", "ml_pipeline", "train", "--events", str(train_log), "--out", str(tmp)]
            + ["--models", "lightgbm", "--quiet"],
            cwd=ROOT,
            check=True,
        )
        tmp.rename(bundle)
    return bundle


def run(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout) of one command in a fresh process."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    out, err = proc.stdout.read(), proc.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{cmd[:4]} failed:\n{err[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, out  # ru_maxrss is in KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--events", type=Path, help="log to score (default: the cached 1M-customer Parquet)")
    ap.add_argument("--bundle", type=Path, help="bundle to score with (default: trained once and cached)")
    ap.add_argument("--reasons", default="exact", choices=("exact", "path", "none"))
    ap.add_argument("--no-peer", action="store_true", help="time only our CLI")
    args = ap.parse_args()
    from bench_pipeline import cached_log

    events = args.events or cached_log(1_000_000, 10_000_000, seed=1)
    bundle = args.bundle or cached_bundle(cached_log(100_000, 1_000_000, seed=2))
    report: dict = {"events": str(events.name), "bundle": str(bundle.name), "load_start": os.getloadavg()}
    runs: dict[str, list[tuple[float, float]]] = {"ours": [], "peer": []}
    with tempfile.TemporaryDirectory() as tmp:
        ours = [
            sys.executable,
            "-m",
            "ml_pipeline",
            "predict",
            "--model",
            str(bundle),
            "--events",
            str(events),
        ]
        ours += ["--out", f"{tmp}/ours.csv", "--reasons", args.reasons, "--quiet"]
        peer = [sys.executable, "-c", _PEER, str(events), f"{tmp}/peer.csv"]
        for _ in range(args.repeats):
            seconds, rss, _ = run(ours)
            runs["ours"].append((seconds, rss))
            if not args.no_peer:
                seconds, rss, _ = run(peer)
                runs["peer"].append((seconds, rss))
    for name, values in runs.items():
        if values:
            report[f"{name}_s"] = round(statistics.median(v[0] for v in values), 1)
            report[f"{name}_peak_rss_mb"] = round(max(v[1] for v in values))
            report[f"{name}_runs"] = [[round(s, 1), round(m)] for s, m in values]
    if runs["peer"]:
        report["ratio_ours_to_peer"] = round(report["ours_s"] / report["peer_s"], 2)
    report["load_end"] = os.getloadavg()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
