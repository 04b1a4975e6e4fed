"""Latency of POST /api/v1/predict inside one process (Flask's test client: no HTTP, no client process).

    python benchmarks/bench_predict.py [--requests 3000] [--profile]

Trains a model on a 3,000-customer synthetic log, registers it as an organization's production
model in a throw-away SQLite database, then sends one customer with 12 transactions per request.
Prints median and p99 in ms; --profile prints the 40 functions with the most cumulative time.
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
sys.path.insert(0, str(ROOT))


def model_dir(models: str | None) -> Path:
    """Where production_app keeps the model it trained for ``models``."""
    return ROOT / "benchmarks" / "data" / f"predict_model_{(models or 'default').replace(',', '_')}"


def production_app(work: Path, models: str | None = None):
    """A throw-away service in ``work`` (SQLite, local storage, no rate limit; set in the
    environment, so servers started from it share them) whose one organization has a model of
    ``models`` types (default: the CLI's) trained on a 3,000-customer synthetic log in production:
    (the app, its API key). The model is trained once and kept in benchmarks/data/predict_model_*
    (delete that folder to train it again, e.g. after a change to training)."""
    os.environ.update(
        STORAGE_DIR=str(work / "storage"),
        DATABASE_URL=f"sqlite:///{work}/db.sqlite3",
        REDIS_URL="",
        RATE_LIMIT="",  # latency from one key: not capped by the per-key limit
    )
    from hcl_server import create_app
    from hcl_server.db import ModelVersion
    from hcl_server.extensions import db
    from hcl_server.services.orgs import create_organization
    from hcl_server.storage import put_dir
    from ml_pipeline.data.synthetic import generate_events, write_events

    model = model_dir(models)
    if not (model / "metadata.json").exists():  # trained once, then reused (benchmarks/data is git-ignored)
        events = write_events(generate_events(3000, 30000, seed=5), work / "train.csv.gz")
        subprocess.run(
            [
                *(sys.executable, "-m", "ml_pipeline", "train", "--events", str(events), "--out", str(model)),
                *(("--models", models) if models else ()),
            ],
            check=True,
            capture_output=True,
        )
    meta = json.loads((model / "metadata.json").read_text())
    app = create_app()
    with app.app_context():
        db.create_all()
        org, key = create_organization("bench")
        put_dir("models/bench/1", model)
        db.session.add(
            ModelVersion(
                organization_id=org.id,
                version=1,
                storage_prefix="models/bench/1",
                is_production=True,
                metrics=meta["metrics"],
                bundle_metadata=meta,
            )
        )
        db.session.commit()
    return app, key


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--models", help="model types to train (default: the CLI's), e.g. xgboost")
    args = ap.parse_args()

    app, key = production_app(Path(tempfile.mkdtemp(prefix="hcl-predict-")), args.models)
    client = app.test_client()
    tx = [{"event_date": f"2024-{m:02d}-15", "amount": 20.0 + m, "category": "GROCERY"} for m in range(1, 13)]
    payload = {"customer_id": "c1", "as_of": "2025-01-01", "transactions": tx}
    headers = {"X-API-Key": key}
    for _ in range(50):  # warm-up: bundle download and load, first queries
        assert client.post("/api/v1/predict", json=payload, headers=headers).status_code == 200
    times = []
    for _ in range(args.requests):
        t = time.perf_counter()
        client.post("/api/v1/predict", json=payload, headers=headers)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    print(
        json.dumps(
            {
                "requests": args.requests,
                "median_ms": round(statistics.median(times), 2),
                "p99_ms": round(times[int(len(times) * 0.99)], 2),
            }
        )
    )
    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        for _ in range(300):
            client.post("/api/v1/predict", json=payload, headers=headers)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(60)


if __name__ == "__main__":
    main()
