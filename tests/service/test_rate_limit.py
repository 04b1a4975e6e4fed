"""The per-API-key rate limit (RATE_LIMIT), on the embedded defaults: counted in memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = Path(__file__).with_name("rate_limit_probe.py")
ROOT = Path(__file__).resolve().parents[2]


def run_probe(settings: dict, plan: dict, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run tests/service/rate_limit_probe.py: an app of its own, in a process of its own, importing
    this checkout's hcl_server (not an installed one)."""
    return subprocess.run(
        [sys.executable, str(PROBE), json.dumps(settings), json.dumps(plan)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def probe(settings: dict, plan: dict, env: dict | None = None) -> dict:
    """What the probe's requests answered (see rate_limit_probe.py)."""
    done = run_probe(settings, plan, env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def statuses(result: dict, name, path: str) -> list[int]:
    return [a[2] for a in result["answers"] if a[0] == name and a[1] == path]


def test_the_request_past_the_limit_answers_429_with_retry_after(app):
    result = probe(
        {"RATE_LIMIT": "3/minute"},
        {
            "orgs": ["Limited", "Neighbour"],
            "requests": [
                ["Limited", "/api/v1/datasets", 3],
                ["Limited", "/api/v1/models", 1],  # one count per key, over every endpoint
                ["Neighbour", "/api/v1/datasets", 3],  # another key has its own count
                [None, "/health", 5],  # exempt
                [None, "/api/v1/datasets", 5],  # no key: 401, never counted
                ["hcl_unknown", "/api/v1/datasets", 5],
            ],
        },
    )
    assert statuses(result, "Limited", "/api/v1/datasets") == [200, 200, 200]
    (over,) = [a for a in result["answers"] if a[1] == "/api/v1/models"]
    _, _, status, retry_after, error = over
    assert status == 429 and 1 <= int(retry_after) <= 60, over
    assert error["code"] == "too_many_requests" and error["status"] == 429
    assert (
        "the limit is 3 per 1 minute" in error["message"]
        and f"retry after {retry_after} s" in error["message"]
    )
    assert error["details"] == {"limit": "3 per 1 minute", "retry_after_s": int(retry_after)}
    assert statuses(result, "Neighbour", "/api/v1/datasets") == [200, 200, 200]
    assert statuses(result, None, "/health") == [200] * 5
    assert statuses(result, None, "/api/v1/datasets") == [401] * 5
    assert statuses(result, "hcl_unknown", "/api/v1/datasets") == [401] * 5


def test_an_empty_rate_limit_counts_nothing(app):
    result = probe(
        {"RATE_LIMIT": ""}, {"orgs": ["Unlimited"], "requests": [["Unlimited", "/api/v1/models", 30]]}
    )
    assert statuses(result, "Unlimited", "/api/v1/models") == [200] * 30


def test_a_database_that_is_down_answers_503_not_429(app):
    result = probe(
        {"RATE_LIMIT": "2/minute", "DATABASE_URL": "postgresql://hcl@127.0.0.1:1/none"},
        {"requests": [["hcl_anything", "/api/v1/datasets", 4]]},
    )
    assert statuses(result, "hcl_anything", "/api/v1/datasets") == [503] * 4


def test_a_bad_rate_limit_is_refused_at_start(app):
    done = run_probe({"RATE_LIMIT": "lots"}, {"requests": []})
    assert done.returncode != 0 and "RATE_LIMIT='lots' is not a rate limit such as 600/minute" in done.stderr


def test_a_redis_that_does_not_answer_counts_in_memory(app):
    # Nothing listens on port 1: each process counts in its own memory instead, so the API keeps
    # answering (and limiting) while Redis is down.
    result = probe(
        {"RATE_LIMIT": "3/minute", "REDIS_URL": "redis://127.0.0.1:1/0"},
        {"orgs": ["Redis down"], "requests": [["Redis down", "/api/v1/models", 5]]},
    )
    assert statuses(result, "Redis down", "/api/v1/models") == [200, 200, 200, 429, 429]
