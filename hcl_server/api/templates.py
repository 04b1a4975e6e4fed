"""/api/v1/templates: an example event log to fill in, as CSV or Excel."""

from __future__ import annotations

import io

from flask import Response, send_file

from hcl_server.api.auth import require_api_key
from hcl_server.api.multipart import Blueprint
from hcl_server.api.schemas import FILE, XLSX

blp = Blueprint("templates", __name__, url_prefix="/api/v1/templates", description="Event-log templates")
blp.before_request(require_api_key)

TEMPLATE_ROWS = [
    ["customer_id", "event_date", "amount", "event_type", "category", "quantity"],
    ["C001", "2024-01-15", "49.90", "purchase", "Books", "2"],
    ["C001", "2024-02-03", "-12.50", "refund", "Books", "1"],
    ["C002", "2024-02-10", "0", "login", "", ""],
    ["C002", "2024-02-11", "120.00", "purchase", "Garden", "1"],
]


@blp.route("/events.csv", methods=["GET"])
@blp.response(200, FILE, content_type="text/csv", description="the template as CSV")
def template_csv():
    """The event-log template as CSV."""
    body = "\n".join(",".join(r) for r in TEMPLATE_ROWS) + "\n"
    return Response(
        body, mimetype="text/csv", headers={"Content-Disposition": "attachment; filename=events.csv"}
    )


@blp.route("/events.xlsx", methods=["GET"])
@blp.response(200, FILE, content_type=XLSX, description="the template as an Excel workbook")
def template_xlsx():
    """The event-log template as Excel."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "events"
    ws.append(TEMPLATE_ROWS[0])
    for row in TEMPLATE_ROWS[1:]:
        ws.append([row[0], row[1], float(row[2]), row[3], row[4] or None, int(row[5]) if row[5] else None])
    buf = io.BytesIO()
    wb.save(buf)
    buf.seek(0)
    return send_file(
        buf,
        as_attachment=True,
        download_name="events.xlsx",
        mimetype=XLSX,
    )
