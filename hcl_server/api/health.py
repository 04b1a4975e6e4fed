"""Liveness and readiness (database, broker, storage)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from hcl_server.services.health import CHECKS, first_failure

bp = Blueprint("health", __name__)


@bp.get("/health")
def live():
    return jsonify(status="ok")


@bp.get("/health/ready")
def ready():
    """200 when database, broker and storage answer; else 503 naming the one that failed."""
    failure = first_failure()
    if failure is not None:
        name, exc = failure
        body = {
            "status": 503,
            "code": "service_unavailable",
            "message": f"{name} is not reachable",
            "details": {"failed": name, "reason": str(exc)[:300]},
        }
        return jsonify(error=body), 503
    return jsonify(status="ready", checks=dict.fromkeys(CHECKS, "ok"))
