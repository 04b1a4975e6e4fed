"""Benchmark of reading and normalizing a large event log (``load_events``), against pyarrow's
plain read of the same file and, optionally, an earlier commit.

    python benchmarks/bench_reading.py [--events 10000000] [--repeats 3] [--ref GIT_REF] [--format csv.gz] [--file PATH]

Each repeat reads the same file with ``pyarrow.csv.read_csv`` (default options: the unavoidable
part, for a CSV file; ``pyarrow.parquet.read_table`` for Parquet), with this checkout's
``load_events`` and with ``--ref``'s (checked out into a temporary git worktree), alternating,
each in a fresh process, so all see the same machine load. Reports the medians, the ratio of
``load_events`` to pyarrow's read (issue 16's goal: at most 3) and to the earlier commit, and
the load average. Generated logs are cached under benchmarks/data/ (git-ignored); ``--file``
reads another file instead.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
_TIME_PYARROW_READ = """
import sys, time
import pyarrow.csv, pyarrow.parquet
t = time.perf_counter()
path = sys.argv[1]
table = pyarrow.parquet.read_table(path) if path.endswith(".parquet") else pyarrow.csv.read_csv(path)
print(time.perf_counter() - t, table.num_rows)
"""
_TIME_ONE_READ = """
import sys, time
from ml_pipeline.data.eventlog import load_events
t = time.perf_counter()
log = load_events(sys.argv[1])
print(time.perf_counter() - t, log.n_events)
"""


def cached_file(customers: int, events: int, fmt: str) -> Path:
    path = DATA / f"synth_{customers}_{events}_1.{fmt}"
    if not path.exists():
        sys.path.insert(0, str(ROOT))
        from ml_pipeline.data.synthetic import generate_events, write_events

        print(f"generating {customers:,} customers / {events:,} events -> {path.name}", file=sys.stderr)
        DATA.mkdir(parents=True, exist_ok=True)
        write_events(generate_events(customers, events, seed=1), path)
    return path


def time_read(code_root: Path, path: Path, code: str = _TIME_ONE_READ) -> tuple[float, int]:
    """Seconds to load ``path`` with the ml_pipeline under ``code_root`` (or to run ``code`` on
    it), in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(code_root)}
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        env=env,
        cwd=code_root,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, rows = done.stdout.split()
    return float(seconds), int(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--format", default="csv.gz", choices=("csv", "csv.gz", "parquet"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ref", help="git ref to compare with (e.g. main~3)")
    ap.add_argument("--file", type=Path, help="read this file instead of the cached synthetic log")
    args = ap.parse_args()
    path = args.file or cached_file(args.customers, args.events, args.format)
    report: dict = {"file": path.name, "load_average_start": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        roots = {"this": ROOT}
        if args.ref:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "add", "--detach", f"{tmp}/ref", args.ref],
                check=True,
                capture_output=True,
            )
            roots[args.ref] = Path(tmp) / "ref"
        try:
            runs: dict[str, list[float]] = {"pyarrow": [], **{name: [] for name in roots}}
            for _ in range(args.repeats):
                seconds, rows = time_read(ROOT, path, _TIME_PYARROW_READ)
                runs["pyarrow"].append(seconds)
                report["rows_pyarrow"] = rows
                for name, root in roots.items():
                    seconds, rows = time_read(root, path)
                    runs[name].append(seconds)
                    report[f"rows_{name}"] = rows
        finally:
            if args.ref:
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", f"{tmp}/ref"], check=False
                )
    for name, values in runs.items():
        report[f"load_s_{name}"] = round(statistics.median(values), 2)
        report[f"runs_s_{name}"] = [round(v, 2) for v in values]
    report["ratio_this_to_pyarrow"] = round(report["load_s_this"] / report["load_s_pyarrow"], 2)
    if args.ref:
        report["ratio_this_to_ref"] = round(report["load_s_this"] / report[f"load_s_{args.ref}"], 3)
    report["load_average_end"] = os.getloadavg()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
