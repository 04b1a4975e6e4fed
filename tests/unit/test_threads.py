"""Native thread pools sized to the process model (issue 16): each process's share of the cores,
set in gunicorn workers, Celery workers and the CLI. Limits are checked in subprocesses: a limit
set in the test process would hold for every later test."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from hcl_server.celery_app import pool_processes
from ml_pipeline.threads import configured_threads, cores_available, threads_per_process

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_each_process_gets_its_share_of_the_cores():
    assert threads_per_process(2, cores=8) == 4
    assert threads_per_process(3, cores=8) == 2
    assert threads_per_process(4, cores=2) == 1  # never fewer than one
    assert threads_per_process(0, cores=2) == 2


def test_the_setting_sizes_sets_or_leaves_the_libraries_alone():
    assert configured_threads(2, "") == configured_threads(2, "auto") == threads_per_process(2)
    assert configured_threads(2, "3") == 3
    assert configured_threads(2, "library") is None
    for bad in ("0", "-1", "many"):
        with pytest.raises(ValueError, match="NATIVE_THREADS"):
            configured_threads(2, bad)


def test_a_celery_worker_counts_its_pool_processes():
    assert pool_processes(SimpleNamespace(pool_cls="solo", concurrency=4)) == 1
    assert pool_processes(SimpleNamespace(pool_cls="prefork", concurrency=3)) == 3
    assert pool_processes(SimpleNamespace(pool_cls="prefork", concurrency="auto")) == cores_available()


PROBE = """
import json, sys
import numpy, lightgbm, xgboost  # loaded before the limit, as in a forked Celery child
from threadpoolctl import threadpool_info
from ml_pipeline.threads import size_native_threads
threads = size_native_threads(int(sys.argv[1]))
print(json.dumps({"threads": threads, "openmp": sorted({p["num_threads"] for p in threadpool_info()
                  if p["user_api"] == "openmp"})}))
"""


def _probe(processes: int, setting: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS") and k != "NATIVE_THREADS"}
    if setting is not None:
        env["NATIVE_THREADS"] = setting
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(processes)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_libraries_loaded_before_the_limit_are_limited():
    sized = _probe(cores_available(), None)  # as many processes as cores: one thread each
    assert sized == {"threads": 1, "openmp": [1]}
    assert _probe(1, "library")["threads"] is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_each_gunicorn_worker_sizes_its_threads(tmp_path):
    """gunicorn reads gunicorn.conf.py of the repo root: its post_fork hook sizes each worker."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS") and k != "NATIVE_THREADS"},
        "STORAGE_DIR": str(tmp_path / "storage"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": "",
    }
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [BIN / "gunicorn", "--bind", f"127.0.0.1:{_free_port()}", "--workers", "2", "run:app"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while log.read_text().count("native thread") < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=30)
    expected = threads_per_process(2)
    lines = [line for line in log.read_text().splitlines() if "native thread" in line]
    assert len(lines) == 2 and all(f": {expected} native thread(s)" in line for line in lines), (
        log.read_text()
    )
