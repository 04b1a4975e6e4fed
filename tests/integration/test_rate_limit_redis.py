"""The per-API-key rate limit backed by Redis: web processes share one count per key, and Redis
holds the key's id, never the key or its hash."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = ROOT / "tests" / "service" / "rate_limit_probe.py"


def probe(settings: dict, plan: dict) -> dict:
    """tests/service/rate_limit_probe.py in a process of its own (one web process)."""
    done = subprocess.run(
        [sys.executable, str(PROBE), json.dumps(settings), json.dumps(plan)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_processes_share_the_count_in_redis(redis_url, tmp_path):
    import redis

    settings = {
        "RATE_LIMIT": "3/minute",
        "REDIS_URL": redis_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'hcl.sqlite3'}",
        "STORAGE_DIR": str(tmp_path / "storage"),
    }
    first = probe(
        settings, {"migrate": True, "orgs": ["Shared"], "requests": [["Shared", "/api/v1/models", 2]]}
    )
    key = first["keys"]["Shared"]
    second = probe(settings, {"keys": {"Shared": key}, "requests": [["Shared", "/api/v1/models", 2]]})
    assert [a[2] for a in first["answers"] + second["answers"]] == [200, 200, 200, 429]
    retry_after = second["answers"][-1][3]
    assert 1 <= int(retry_after) <= 60 and second["answers"][-1][4]["code"] == "too_many_requests"

    stored = [k.decode() for k in redis.Redis.from_url(redis_url).keys("LIMITS:*")]
    assert stored, "nothing counted in Redis"
    uuid = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    assert all(re.fullmatch(rf"LIMITS:LIMITER/hcl-api-key/{uuid}/global/3/1/minute", k) for k in stored), (
        stored
    )
    assert not any(key in k or hashlib.sha256(key.encode()).hexdigest() in k for k in stored)
