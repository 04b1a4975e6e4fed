"""The web pages for analysts under /app: server-rendered, on the same services as the API.

A page is signed in with an API key once; the session cookie then holds the key's id (never the
key), and every page checks that the key is still unrevoked, so revoking it signs its pages out.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint(
    "web",
    __name__,
    url_prefix="/app",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

# The routes register on bp; services' messages are shown in the pages' words.
from hcl_server.web.forms import page_worded  # noqa: E402

bp.add_app_template_filter(page_worded, "page_worded")

from hcl_server.web import bulk_views, dataset_views, errors, model_views, training_views, views  # noqa: E402, F401, I001
