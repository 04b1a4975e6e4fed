"""Peak memory of the bulk steps, each in a fresh process, against reading the whole file at once.

    python benchmarks/bench_bulk_memory.py [--customers 1000000] [--partition-customers 100000]

Uses the same generated file as bench_service.py (benchmarks/data/bulk_N.csv.gz, made if missing)
and a model trained on a 20,000-customer synthetic log. Reports, as JSON, the peak resident memory
(ru_maxrss) of: the split (ml_pipeline.data.sharding.shard_file), scoring one partition (load_shards +
predict), and, for comparison, load_events of the whole file. Also the wall time of each step.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STEP = r"""
import json, resource, sys, time
from pathlib import Path
step, args = sys.argv[1], json.loads(sys.argv[2])
t = time.perf_counter()
if step == "split":
    from ml_pipeline.data.sharding import shard_file
    s = shard_file(args["file"], args["out"])
    groups = s.groups(args["partition_customers"])
    Path(args["meta"]).write_text(json.dumps(
        {"columns": s.columns, "formats": s.formats, "groups": groups, "paths": [str(p) for p in s.paths]}
    ))
    info = {"shards": len(s.paths), "partitions": len(groups)}
elif step == "partition":
    from ml_pipeline.serving.bundle import load_bundle
    from ml_pipeline.serving.scoring import predict
    from ml_pipeline.data.sharding import load_shards
    meta = json.loads(Path(args["meta"]).read_text())
    paths = [Path(meta["paths"][i]) for i in meta["groups"][0]]
    log = load_shards(paths, columns=meta["columns"], formats=meta["formats"], source="bench")
    frame = predict(load_bundle(args["model"]), log)
    info = {"customers": len(frame), "events": log.n_events}
else:
    from ml_pipeline.data.eventlog import load_events
    log = load_events(args["file"])
    info = {"customers": log.n_customers, "events": log.n_events}
info["seconds"] = round(time.perf_counter() - t, 1)
info["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
print(json.dumps(info))
"""


def run(step: str, **args) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            STEP,
            step,
            json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in args.items()}),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--partition-customers", type=int, default=100_000)
    args = ap.parse_args()

    from ml_pipeline.data.synthetic import generate_events, write_events

    work = Path(tempfile.mkdtemp(prefix="hcl-mem-"))
    bulk_file = ROOT / "benchmarks" / "data" / f"bulk_{args.customers}.csv.gz"
    if not bulk_file.exists():
        bulk_file.parent.mkdir(exist_ok=True)
        write_events(generate_events(args.customers, args.customers * 10, seed=6), bulk_file)
    train_file = write_events(generate_events(20_000, 200_000, seed=5), work / "train.csv.gz")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ml_pipeline",
            "train",
            "--events",
            str(train_file),
            "--out",
            str(work / "model"),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (work / "shards").mkdir()
    meta = work / "meta.json"
    report = {
        "customers": args.customers,
        "file_mb": round(bulk_file.stat().st_size / 2**20, 1),
        "split": run(
            "split",
            file=bulk_file,
            out=work / "shards",
            meta=meta,
            partition_customers=args.partition_customers,
        ),
        "one_partition": run("partition", meta=meta, model=work / "model"),
        "whole_file_load_events": run("whole", file=bulk_file),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
