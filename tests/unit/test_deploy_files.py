"""The deployment files keep what README "Deploy" promises (the running set: make compose-smoke)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")  # PyYAML comes with the dev requirements (moto, schemathesis)

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("api", "worker", "beat")
ONE_SHOTS = ("migrate", "createbucket")


def _compose(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())["services"]


@pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.smoke.yml"])
def test_compose_order_restart_and_health(name):
    services = _compose(name)
    for app in APP_SERVICES:
        conditions = services[app]["depends_on"]
        for step in ONE_SHOTS:
            assert conditions[step] == {"condition": "service_completed_successfully"}, (app, step)
        for other, cond in conditions.items():
            if other not in ONE_SHOTS:
                assert cond == {"condition": "service_healthy"}, (app, other)
                assert "healthcheck" in services[other], other
    for step in ONE_SHOTS:
        assert services[step]["restart"] == "no"
    for svc, spec in services.items():
        if svc not in ONE_SHOTS:
            assert spec["restart"] == "unless-stopped", svc
    assert services["beat"]["command"][:4] == ["celery", "-A", "celery_worker", "beat"]
    assert services["migrate"]["command"] == ["flask", "--app", "run", "db", "upgrade"]


def test_production_compose_pins_images_and_keeps_secrets_out():
    text = (ROOT / "docker-compose.yml").read_text()
    services = _compose("docker-compose.yml")
    for svc, spec in services.items():
        image = spec["image"]
        if "build" not in spec:
            assert re.search(r":[\w.-]+$", image) and not image.endswith(":latest"), svc
    # Every password and key is interpolated from .env, never written in the file.
    for line in text.splitlines():
        m = re.match(r"\s*(\w*(PASSWORD|SECRET)\w*):\s*(\S+)", line)
        if m:
            assert m.group(3).startswith("${"), line
    assert "/.env" in (ROOT / ".gitignore").read_text().split()
    example = (ROOT / ".env.example").read_text()
    for key in ("POSTGRES_PASSWORD=", "MINIO_ROOT_PASSWORD=", "SECRET_KEY="):
        assert f"\n{key}\n" in example, key


def test_smoke_set_stays_on_loopback_off_the_shared_ports():
    services = _compose("docker-compose.smoke.yml")
    assert all(spec["network_mode"] == "host" for spec in services.values())
    env = (ROOT / "deploy" / "smoke" / "smoke.env").read_text()
    assert ":5432/" not in env and ":6379/" not in env
    assert all(host == "127.0.0.1" for host in re.findall(r"//(?:[^@/\s]*@)?([\w.]+):\d+", env))


def test_dockerfile_and_dockerignore():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11[\w.-]*-slim-bookworm", dockerfile, re.M)
    assert "libgomp1" in dockerfile
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
    assert "HEALTHCHECK" in dockerfile and "/health/ready" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "instance", "storage", "out", ".env"):
        assert entry in ignored, entry
