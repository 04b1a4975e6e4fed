"""Load test of POST /api/v1/predict over HTTP at 1 and 8 connections, with the web workers' native
threads sized (NATIVE_THREADS=auto) and left to the libraries (NATIVE_THREADS=library).

    python benchmarks/bench_predict_load.py [--seconds 20] [--workers 2] [--connections 1,8] [--models xgboost]

Needs wrk (Debian's package: apt-get install wrk). Trains a model on a 3,000-customer synthetic log
and registers it as production in a throw-away service (bench_predict.production_app), then for each
setting starts gunicorn on a loopback port (``--workers`` processes, as `make run` and the image
start it), warms it up and runs wrk for ``--seconds`` at each connection count: one customer with 12
transactions per request. Prints JSON: requests/s, p50 and p99 in ms per setting and connection
count, and the sized/library ratios. The machine is shared and noisy: quote one run's figures
together, with its load.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench_predict import model_dir, production_app  # noqa: E402  (benchmarks/ is the script's folder)

BIN = Path(sys.executable).parent
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def post(port: int, body: bytes, key: str) -> int:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/predict",
        data=body,
        headers={"Content-Type": "application/json", "X-API-Key": key},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status


def wrk(port: int, script: Path, connections: int, seconds: int) -> dict:
    """One wrk run: requests/s and the p50 and p99 latency in ms."""
    out = subprocess.run(
        [
            "wrk",
            f"-t{min(connections, 2)}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/api/v1/predict",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    latency = {
        p: round(float(v) * UNITS_MS[u], 2)
        for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    }
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": latency.get("50"),
        "p99_ms": latency.get("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--connections", default="1,8")
    ap.add_argument("--port", type=int, default=5088)
    ap.add_argument(
        "--models",
        default="xgboost",
        help="model types trained (default xgboost: its predictions use an OpenMP pool of every core)",
    )
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")

    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.pop(name, None)  # the setting under test decides, not the caller's shell
    work = Path(tempfile.mkdtemp(prefix="hcl-load-"))
    _, key = production_app(work, args.models)
    env = dict(os.environ)  # production_app's database and storage, for gunicorn
    tx = [{"event_date": f"2024-{m:02d}-15", "amount": 20.0 + m, "category": "GROCERY"} for m in range(1, 13)]
    body = json.dumps({"customer_id": "c1", "as_of": "2025-01-01", "transactions": tx})
    script = work / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["X-API-Key"] = "{key}"\n'
    )
    connections = [int(c) for c in args.connections.split(",")]
    selection = json.loads((model_dir(args.models) / "metadata.json").read_text())["selection"]
    report: dict = {
        "workers": args.workers,
        "seconds": args.seconds,
        "cores": os.cpu_count(),
        "models": sorted(set(selection.values())),
    }
    for setting in ("library", "auto"):
        server = subprocess.Popen(
            [BIN / "gunicorn", "--bind", f"127.0.0.1:{args.port}", "--workers", str(args.workers), "run:app"],
            cwd=ROOT,
            env={**env, "NATIVE_THREADS": setting},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(120):
                try:
                    if post(args.port, body.encode(), key) == 200:
                        break
                except OSError:
                    time.sleep(0.5)
            for _ in range(200):  # every worker has loaded the bundle
                post(args.port, body.encode(), key)
            report[setting] = {str(c): wrk(args.port, script, c, args.seconds) for c in connections}
            report[setting]["load_average"] = os.getloadavg()[0]
        finally:
            server.terminate()
            server.wait(timeout=30)
    report["ratio_auto_to_library"] = {
        str(c): {
            "requests_per_s": round(
                report["auto"][str(c)]["requests_per_s"] / report["library"][str(c)]["requests_per_s"], 2
            ),
            "p99_ms": round(report["auto"][str(c)]["p99_ms"] / report["library"][str(c)]["p99_ms"], 2),
        }
        for c in connections
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
