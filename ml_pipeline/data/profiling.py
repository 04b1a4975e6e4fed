"""A profile of an event log: what was read, what was dropped, and what the data holds."""

from __future__ import annotations

import numpy as np

from ml_pipeline.data.days import day_to_date
from ml_pipeline.data.eventlog import EventLog


def profile(log: EventLog, top: int = 10) -> dict:
    """Rows, customers, date range, event types, categories by revenue, amounts, what was decided
    about each column (``reading``) and warnings.

    Implausible values (:mod:`ml_pipeline.data.plausibility`) are listed by row in
    ``implausible_rows`` (at most 20: row, column, value as read, value used or None when the row
    was left out); the dates are those of the rows kept. ``amount_total`` and ``refund_total``
    are the file's amounts of those rows; ``amount_total_used`` is what the forecasts count.
    """
    implausible = log.info.get("implausible", {})
    used_total = float(log.amount[log.is_spend()].sum())
    per_customer = np.bincount(log.customer, minlength=log.n_customers)
    types = np.bincount(log.etype, minlength=len(log.event_types))
    spend = log.is_spend()
    with_cat = spend & (log.category >= 0)
    revenue = np.bincount(log.category[with_cat], weights=log.amount[with_cat], minlength=len(log.categories))
    rows = np.bincount(log.category[log.category >= 0], minlength=len(log.categories))
    order = np.argsort(-revenue, kind="stable")[:top]
    return {
        "format": log.info.get("format"),
        "columns": log.info.get("columns"),
        "date_format": log.info.get("date_format"),
        "rows_read": log.info.get("rows_read", log.n_events),
        "rows_dropped": log.info.get("rows_dropped", 0),
        "rows": log.n_events,
        "duplicate_rows": log.info.get("duplicate_rows", 0),
        "customers": log.n_customers,
        "customers_with_one_event": int((per_customer == 1).sum()),
        "first_date": day_to_date(int(log.day[0])) if log.n_events else None,
        "last_date": day_to_date(int(log.day[-1])) if log.n_events else None,
        "event_types": {t: int(c) for t, c in zip(log.event_types, types) if c > 0},
        "categories": len(log.categories),
        "top_categories": [
            {"category": log.categories[i], "revenue": round(float(revenue[i]), 2), "rows": int(rows[i])}
            for i in order
            if rows[i] > 0
        ],
        "amount_total": round(used_total + implausible.get("amount_delta", 0.0), 2),
        "amount_total_used": round(used_total, 2),
        # + 0.0 turns the -0.0 of a log without refunds into 0.0
        "refund_total": round(
            float(-log.amount[log.amount < 0].sum()) - implausible.get("refund_delta", 0.0), 2
        )
        + 0.0,
        "implausible_dates_left_out": implausible.get("dates_left_out", 0),
        "implausible_amounts_replaced": implausible.get("amounts_replaced", 0),
        "implausible_rows": implausible.get("rows", []),
        "reading": reading(log),
        "warnings": list(log.warnings),
    }


def reading(log: EventLog) -> dict:
    """What was decided about each column, so a user can check the reading at a glance: the
    format and encoding, the date format, the decimal style, how the amount was formed, what each
    event type was read as, and how ids and cancellations were read."""
    info = log.info
    out = {
        "format": info.get("format"),
        "encoding": info.get("encoding"),
        "columns": info.get("columns"),
        "date_format": info.get("date_format"),
        "decimal": "dot (1,234.56)",
        "amount": "as written" if (info.get("columns") or {}).get("amount") else "none (every amount is 0)",
    }
    out.update(info.get("reading") or {})
    return {k: v for k, v in out.items() if v is not None}
