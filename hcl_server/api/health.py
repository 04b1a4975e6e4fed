"""Liveness and readiness (database, broker, storage)."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from hcl_server.extensions import db
from hcl_server.storage import storage

logger = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/health")
def live():
    return jsonify(status="ok")


def _check_broker() -> None:
    celery = current_app.extensions["celery"]
    with celery.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


@bp.get("/health/ready")
def ready():
    """200 when database, broker and storage answer; else 503 naming the one that failed."""
    checks = {
        "database": lambda: db.session.execute(text("SELECT 1")),
        "broker": _check_broker,
        "storage": lambda: storage().ping(),
    }
    for name, check in checks.items():
        try:
            check()
        except Exception as exc:  # any failure of a dependency means "not ready"
            logger.warning("readiness: %s failed: %s", name, exc)
            body = {
                "status": 503,
                "code": "service_unavailable",
                "message": f"{name} is not reachable",
                "details": {"failed": name, "reason": str(exc)[:300]},
            }
            return jsonify(error=body), 503
    return jsonify(status="ready", checks=dict.fromkeys(checks, "ok"))
