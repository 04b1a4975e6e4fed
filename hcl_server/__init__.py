"""hcl_server: the Flask + Celery service around ml_pipeline (grown out in issue 3)."""

from __future__ import annotations

from flask import Flask, jsonify

from config import Config
from hcl_server.celery_app import init_celery


def create_app(test_config: dict | None = None) -> Flask:
    """Application factory: settings from config.Config, overridden by ``test_config``."""
    app = Flask(__name__)
    app.config.from_mapping(Config().as_flask())
    if test_config:
        app.config.from_mapping(test_config)
    register_blueprints(app)
    init_celery(app)
    return app


def register_blueprints(app: Flask) -> None:
    """Routes; for now only liveness."""

    @app.get("/health")
    def health():
        return jsonify(status="ok")
