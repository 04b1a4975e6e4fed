"""/api/v1/customers and /api/v1/templates."""

from __future__ import annotations

import io

from flask import Response, g, send_file
from flask_smorest import Blueprint

from hcl_server.api.auth import require_api_key
from hcl_server.api.errors import ApiError
from hcl_server.api.schemas import StoredPrediction
from hcl_server.db import Job, Prediction
from hcl_server.extensions import db
from hcl_server.repositories import scoped

customers = Blueprint("customers", __name__, url_prefix="/api/v1/customers", description="Stored predictions")
customers.before_request(require_api_key)
templates = Blueprint(
    "templates", __name__, url_prefix="/api/v1/templates", description="Event-log templates"
)
templates.before_request(require_api_key)

TEMPLATE_ROWS = [
    ["customer_id", "event_date", "amount", "event_type", "category", "quantity"],
    ["C001", "2024-01-15", "49.90", "purchase", "Books", "2"],
    ["C001", "2024-02-03", "-12.50", "refund", "Books", "1"],
    ["C002", "2024-02-10", "0", "login", "", ""],
    ["C002", "2024-02-11", "120.00", "purchase", "Garden", "1"],
]


@customers.route("/<customer_id>/prediction", methods=["GET"])
@customers.response(200, StoredPrediction)
def latest(customer_id: str):
    """The customer's prediction from the most recent finished bulk job that scored them."""
    row = db.session.scalar(
        scoped(Prediction, g.org_id)
        .join(Job, Job.id == Prediction.job_id)
        .where(Prediction.customer_id == customer_id, Job.status == "succeeded")
        .order_by(Job.finished_at.desc(), Prediction.id.desc())
        .limit(1)
    )
    if row is None:
        raise ApiError(404, f"no stored prediction for customer {customer_id}")
    return row


@templates.route("/events.csv", methods=["GET"])
@templates.response(200)
def template_csv():
    """The event-log template as CSV."""
    body = "\n".join(",".join(r) for r in TEMPLATE_ROWS) + "\n"
    return Response(
        body, mimetype="text/csv", headers={"Content-Disposition": "attachment; filename=events.csv"}
    )


@templates.route("/events.xlsx", methods=["GET"])
@templates.response(200)
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
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
