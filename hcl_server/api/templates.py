"""/api/v1/templates: an example event log to fill in, as CSV or Excel."""

from __future__ import annotations

from flask import Response, send_file

from hcl_server.api.auth import require_api_key
from hcl_server.api.multipart import Blueprint
from hcl_server.api.schemas import FILE, XLSX
from hcl_server.services import templates

blp = Blueprint("templates", __name__, url_prefix="/api/v1/templates", description="Event-log templates")
blp.before_request(require_api_key)


@blp.route("/events.csv", methods=["GET"])
@blp.response(200, FILE, content_type="text/csv", description="the template as CSV")
def template_csv():
    """The event-log template as CSV."""
    return Response(
        templates.template_csv(),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=events.csv"},
    )


@blp.route("/events.xlsx", methods=["GET"])
@blp.response(200, FILE, content_type=XLSX, description="the template as an Excel workbook")
def template_xlsx():
    """The event-log template as Excel."""
    buf = templates.template_xlsx()
    return send_file(
        buf,
        as_attachment=True,
        download_name="events.xlsx",
        mimetype=XLSX,
    )
