"""The event-log template a user fills in, as CSV or Excel (the API's and the web pages' download)."""

from __future__ import annotations

import io

TEMPLATE_ROWS = [
    ["customer_id", "event_date", "amount", "event_type", "category", "quantity"],
    ["C001", "2024-01-15", "49.90", "purchase", "Books", "2"],
    ["C001", "2024-02-03", "-12.50", "refund", "Books", "1"],
    ["C002", "2024-02-10", "0", "login", "", ""],
    ["C002", "2024-02-11", "120.00", "purchase", "Garden", "1"],
]


def template_csv() -> str:
    """The template as CSV text."""
    return "\n".join(",".join(r) for r in TEMPLATE_ROWS) + "\n"


def template_xlsx() -> io.BytesIO:
    """The template as an Excel workbook (sheet "events"; numbers typed), opened at its start."""
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
    return buf
