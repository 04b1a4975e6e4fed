"""Swagger UI's files, served by the app so /docs works without internet.

They come from the pinned ``flask-swagger-ui`` package (its ``dist`` folder is swagger-ui-dist,
the version in its VERSION file); only its files are used, not its blueprint: flask-smorest's
/docs page loads them from ``OPENAPI_SWAGGER_UI_URL``, which points here.
"""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint

SWAGGER_UI_DIST = Path(flask_swagger_ui.__file__).parent / "dist"
SWAGGER_UI_URL = "/docs/swagger-ui/"

bp = Blueprint(
    "swagger_ui", __name__, static_folder=str(SWAGGER_UI_DIST), static_url_path=SWAGGER_UI_URL.rstrip("/")
)
