"""Issue 16's whole table in one run: every benchmark, each figure against its goal and its
unavoidable part or peer.

    python benchmarks/bench_table.py [--only load,service,writing,cli,pipeline,reading] [--seconds 20]

Runs, one after the other, each in its own processes (so they see the same machine, and none
shares a Python process with another):

* ``load``: bench_predict_load.py: ``POST /api/v1/predict`` over HTTP with wrk at 1 and 8
  connections (2 gunicorn workers; native threads sized, against the libraries' default pools);
* ``service``: bench_service.py: a bulk job of 1M customers / 10M events from upload to CSV
  downloadable, its .xlsx, and the job's unavoidable part (pyarrow's read of the file plus every
  target's prediction from a built matrix);
* ``writing``: bench_writing.py: the 1M-row predictions CSV, against pandas' ``to_csv``;
* ``cli``: bench_cli.py: ``python -m ml_pipeline predict`` of 1M customers against BG/NBD +
  Gamma-Gamma with ``lifetimes``;
* ``pipeline``: bench_pipeline.py: training every model type on 100k customers x 12 cutoffs, and
  predicting 1M customers in process with exact reasons and without;
* ``reading``: bench_reading.py: ``load_events`` of the 10M-event CSV.gz against pyarrow's read.

Prints a Markdown table (what, measured, unavoidable part or peer, ratio, goal, met) and writes
every benchmark's JSON with the load averages to benchmarks/data/table-<time>.json. Generated logs
and trained models are cached under benchmarks/data/ (the first run makes them, untimed). On
2 cores the whole run takes about half an hour; the machine is shared and noisy: quote the run's
load with its figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
STEPS = ("load", "service", "writing", "cli", "pipeline", "reading")


def run_json(script: str, *args: str) -> dict:
    """Run benchmarks/``script`` with ``args`` in a fresh process; its JSON report (the last
    top-level JSON object it printed), with its wall time and the load averages around it.
    Raises RuntimeError with the end of its stderr if it fails."""
    load_before = os.getloadavg()
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{script} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    out = proc.stdout
    report = json.loads(out[out.rindex("\n{") + 1 :] if not out.startswith("{") else out)
    report["_wall_s"] = round(time.perf_counter() - started, 1)
    report["_load_before"] = [round(x, 2) for x in load_before]
    report["_load_after"] = [round(x, 2) for x in os.getloadavg()]
    return report


def _fmt(value: float | None, unit: str = "s") -> str:
    if value is None:
        return "—"
    return f"{value:,.1f} {unit}" if value >= 10 else f"{value:.2f} {unit}"


def rows(results: dict) -> list[tuple[str, str, str, str, str, bool | None]]:
    """The table's rows from the benchmarks' reports: (what, measured, unavoidable part or peer,
    ratio, goal, met or None when not measured)."""
    out = []
    load = results.get("load")
    if load:
        auto, library = load["auto"], load["library"]
        a8, l8, a1, l1 = auto["8"], library["8"], auto["1"], library["1"]
        out.append(
            (
                f"`POST /api/v1/predict`, 8 connections ({', '.join(load['models'])} model)",
                f"{a8['requests_per_s']:.0f} req/s, p99 {a8['p99_ms']:.1f} ms",
                f"libraries' default pools: {l8['requests_per_s']:.0f} req/s, p99 {l8['p99_ms']:.1f} ms",
                f"{a8['requests_per_s'] / l8['requests_per_s']:.2f}× req/s",
                "≥ 500 req/s, p99 ≤ 50 ms",
                a8["requests_per_s"] >= 500 and a8["p99_ms"] <= 50,
            )
        )
        out.append(
            (
                "same, 1 connection",
                f"{a1['requests_per_s']:.0f} req/s, p50 {a1['p50_ms']:.1f} ms, p99 {a1['p99_ms']:.1f} ms",
                f"default pools: p99 {l1['p99_ms']:.1f} ms",
                f"{a1['p99_ms'] / l1['p99_ms']:.2f}× p99",
                "p99 ≤ 10 ms",
                a1["p99_ms"] <= 10,
            )
        )
    service = results.get("service")
    if service:
        part = service["unavoidable"]
        out.append(
            (
                "bulk job, 1M customers / 10M events, upload → CSV downloadable",
                _fmt(service["bulk_s"]),
                f"pyarrow read {_fmt(part['read_pyarrow_s'])} + every target from a built matrix "
                f"{_fmt(part['predict_targets_s'])} = {_fmt(service['unavoidable_s'])}",
                f"{service['bulk_to_unavoidable']:.2f}×",
                "≤ 45 s and ≤ 4×",
                service["bulk_s"] <= 45 and service["bulk_to_unavoidable"] <= 4,
            )
        )
        xlsx = None if service.get("xlsx_ready_s") is None else service["xlsx_ready_s"] - service["bulk_s"]
        rows_in = service.get("xlsx_data_rows")
        whole = rows_in is None or rows_in == service["bulk_customers"]  # None: an older report
        out.append(
            (
                ".xlsx of that job, after the CSV",
                _fmt(xlsx) + ("" if rows_in is None else f" ({rows_in:,} data rows)"),
                "",
                "",
                "≤ 40 s, every customer",
                xlsx is not None and xlsx <= 40 and whole,
            )
        )
    writing = results.get("writing")
    if writing:
        pandas_s = writing.get("pandas_s")
        out.append(
            (
                "writing the 1M-row predictions CSV (service's writer; CLI's)",
                f"{_fmt(writing['service_s'])}; {_fmt(writing['cli_s'])}",
                f"pandas `to_csv` {_fmt(pandas_s)}",
                f"{writing['service_s'] / pandas_s:.2f}×" if pandas_s else "",
                "≤ 3 s",
                writing["service_s"] <= 3,
            )
        )
    cli = results.get("cli")
    if cli:
        out.append(
            (
                "`python -m ml_pipeline predict`, 1M customers, end to end (peak memory)",
                f"{_fmt(cli['ours_s'])} ({cli['ours_peak_rss_mb']:,} MB)",
                f"BG/NBD + Gamma-Gamma (`lifetimes`): {_fmt(cli['peer_s'])} ({cli['peer_peak_rss_mb']:,} MB)",
                f"{cli['ratio_ours_to_peer']:.2f}×",
                "≤ 25 s, ≤ 2 GB, ahead of the peer",
                cli["ours_s"] <= 25 and cli["ours_peak_rss_mb"] <= 2048 and cli["ratio_ours_to_peer"] < 1,
            )
        )
    pipeline = results.get("pipeline")
    if pipeline:
        out.append(
            (
                "`predict` with exact reasons, 1M customers, in process",
                _fmt(pipeline["predict_s"]),
                f"without reasons {_fmt(pipeline['predict_no_reasons_s'])}",
                f"{pipeline['predict_s'] / pipeline['predict_no_reasons_s']:.2f}×",
                "≤ 20 s",
                pipeline["predict_s"] <= 20,
            )
        )
    reading = results.get("reading")
    if reading:
        out.append(
            (
                "reading and normalizing the 10M-event CSV.gz (`load_events`)",
                _fmt(reading["load_s_this"]),
                f"`pyarrow.csv.read_csv` {_fmt(reading['load_s_pyarrow'])}",
                f"{reading['ratio_this_to_pyarrow']:.2f}×",
                "≤ 3× pyarrow",
                reading["ratio_this_to_pyarrow"] <= 3,
            )
        )
    if pipeline:
        out.append(
            (
                f"training, 100k customers × {pipeline['train_cutoffs']} cutoffs, every model type",
                _fmt(pipeline["train_s"]),
                "",
                "",
                "≤ 120 s",
                pipeline["train_s"] <= 120,
            )
        )
    return out


def markdown(results: dict) -> str:
    lines = [
        "| what | measured | unavoidable part / peer | ratio | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    for what, measured, reference, ratio, goal, met in rows(results):
        lines.append(f"| {what} | {measured} | {reference} | {ratio} | {goal} | {'yes' if met else 'no'} |")
    loads = [r["_load_before"][0] for r in results.values() if "_load_before" in r]
    loads += [r["_load_after"][0] for r in results.values() if "_load_after" in r]
    if loads:
        lines.append(f"\nLoad average (1 min) around the steps: {min(loads):.2f}–{max(loads):.2f}.")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(STEPS), help=f"steps to run, of {','.join(STEPS)}")
    ap.add_argument("--seconds", type=int, default=20, help="wrk's duration at each connection count")
    ap.add_argument("--render", type=Path, help="print the table of an earlier run's JSON and stop")
    args = ap.parse_args()
    if args.render:
        print(markdown(json.loads(args.render.read_text())["results"]))
        return
    steps = [s for s in args.only.split(",") if s]
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        ap.error(f"unknown steps {unknown}; choose from {','.join(STEPS)}")
    bulk_file = DATA / "bulk_1000000.csv.gz"  # bench_service.py's upload, made by it if missing
    commands = {
        "load": ("bench_predict_load.py", "--seconds", str(args.seconds)),
        "service": ("bench_service.py", "--customers", "1000000", "--requests", "200"),
        "writing": ("bench_writing.py", "--repeats", "3"),
        "cli": ("bench_cli.py", "--repeats", "1"),
        "pipeline": ("bench_pipeline.py", "--repeats", "1"),
        "reading": ("bench_reading.py", "--repeats", "1", "--file", str(bulk_file)),
    }
    DATA.mkdir(parents=True, exist_ok=True)
    if "reading" in steps and not bulk_file.exists():  # bench_service.py makes it, if it runs first
        sys.path.insert(0, str(ROOT))
        from ml_pipeline.data.synthetic import generate_events, write_events

        print(f"generating {bulk_file.name}", file=sys.stderr)
        write_events(generate_events(1_000_000, 10_000_000, seed=6), bulk_file)
    out_path = DATA / f"table-{time.strftime('%Y%m%d-%H%M%S')}.json"
    results: dict = {}
    started = time.perf_counter()
    for step in steps:
        print(f"[{time.perf_counter() - started:7.1f} s] {step}: {' '.join(commands[step])}", file=sys.stderr)
        results[step] = run_json(*commands[step])
        out_path.write_text(json.dumps({"commands": commands, "results": results}, indent=2))
    print(markdown(results))
    print(f"\nReports: {out_path.relative_to(ROOT)}; total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
