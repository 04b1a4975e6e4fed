"""Implausible values in an event log: flagged by row, and kept from steering the forecasts.

Two kinds of typing error pass every format check yet move every result:

* **A date far after the rest of the log** (2033 typed for 2023). The default as-of date is the
  day after the last event, so one such row moves the as-of date for everybody: every customer
  then looks ten years silent. Such a row cannot be placed in time, so it is left out of the log.
* **An amount orders of magnitude above the usual** (1,250,000.00 for 125.00). Spend targets and
  features are sums of amounts, so one such row drives that customer's forecast and, through the
  model trained on it, the whole book's. The row is kept (the customer did buy that day) but its
  amount is counted as the customer's usual purchase in features and targets.

Both are decided on robust statistics (medians, quantiles, gaps between distinct days), so the
outliers themselves do not move the thresholds, and both are vectorized numpy: the amount rule
only sorts the rows of the few customers with a candidate amount. Each flagged row is named by its
row in the file in ``log.warnings`` and listed in ``log.info["implausible"]`` (for the profile).

The bulk path decides the dates once for the whole file from its distinct days
(:func:`last_plausible_day`, called by :mod:`ml_pipeline.data.sharding`) and passes the result to
every partition under the ``PLAUSIBLE_UNTIL`` key of the file-wide formats, so a partition leaves
out exactly the rows the whole file would.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

import numpy as np

from ml_pipeline.data.days import date_to_day, day_to_date


class EventLog(Protocol):
    """What screening reads and changes of an :class:`ml_pipeline.data.eventlog.EventLog` (named
    here rather than imported, so the event log can call the screening without a circle)."""

    customer_ids: np.ndarray
    customer: np.ndarray
    day: np.ndarray
    amount: np.ndarray
    etype: np.ndarray
    category: np.ndarray
    quantity: np.ndarray
    churn_label: np.ndarray | None
    warnings: list[str]
    info: dict

    @property
    def n_events(self) -> int: ...

    @property
    def n_customers(self) -> int: ...

    def is_spend(self) -> np.ndarray: ...


# Key in the file-wide formats of a sharded file (Shards.formats): ISO date of the last plausible
# event day; a partition leaves out the rows after it instead of deciding on its own events.
PLAUSIBLE_UNTIL = "plausible_until"

# --- dates -----------------------------------------------------------------------------------
# A date is implausible when it lies after today + FUTURE_SLACK_DAYS (an export cannot hold the
# future; one day of slack for time zones ahead of UTC), or after a gap of at least MIN_GAP_DAYS
# with no event that is also GAP_FACTOR times the largest gap between the log's earlier days.
# Real logs have gaps of days between distinct days (docs/benchmarks.md) and a closed season is
# weeks; a year with no event, followed by a handful of rows, is a wrong year.
FUTURE_SLACK_DAYS = 1
MIN_GAP_DAYS = 365
GAP_FACTOR = 10
# Either way the rows left out must be few: at most TAIL_SHARE of the events (at least
# TAIL_MIN_ROWS rows, so a tiny log can lose its one typo) and fewer than half. More rows than that
# after today is not a typo but a clock or a schedule: they are kept, with a warning.
TAIL_SHARE = 0.01
TAIL_MIN_ROWS = 3

# --- amounts ---------------------------------------------------------------------------------
# A spend row's |amount| is implausible when it is at least CUSTOMER_FACTOR times the customer's
# usual purchase (the lower median of their purchases, so one outlier cannot be its own usual)
# AND at least LOG_FACTOR times the log's 99th percentile purchase. Both are needed: a customer
# who buys once a year a gift 30x their usual is real, and so is the log's top customer. A
# misplaced decimal of two places is 100x; on the shared real logs no row comes near both
# thresholds (docs/benchmarks.md, "Figures behind choices in the code").
CUSTOMER_FACTOR = 100.0
LOG_FACTOR = 30.0
# A customer with one purchase has no usual of their own: only the log decides, ten times stricter.
LONE_LOG_FACTOR = 300.0
LOG_QUANTILE = 0.99

EXAMPLES = 5  # rows named in a warning
LISTED = 20  # rows listed in the profile


def today_day() -> int:
    """Today's day number (UTC)."""
    return date_to_day(dt.datetime.now(dt.UTC).date().isoformat())


def _tail_allowed(n: int) -> int:
    """How many of ``n`` events may be left out as implausible dates."""
    return int(min(max(TAIL_SHARE * n, TAIL_MIN_ROWS), (n - 1) // 2))


def last_plausible_day(days: np.ndarray, counts: np.ndarray, today: int | None = None) -> int | None:
    """The last plausible event day of a log, or None when every day is plausible.

    ``days``: distinct day numbers, ascending (int); ``counts``: events on each (int, same
    length). ``today``: a day number (default: today, UTC). Events after the returned day are the
    implausible ones (the rules are in the module's constants). Raises nothing.
    """
    days = np.asarray(days, dtype=np.int64)
    counts = np.asarray(counts, dtype=np.int64)
    if len(days) < 2:
        return None
    allowed = _tail_allowed(int(counts.sum()))
    after = int(counts.sum()) - np.cumsum(counts)[:-1]  # events after days[i], i < len - 1
    today = today_day() if today is None else today
    gaps = np.diff(days)
    # The largest gap before gap i: the log's own rhythm that gap i must dwarf.
    before = np.maximum.accumulate(np.concatenate([[0], gaps[:-1]]))
    far = (gaps >= MIN_GAP_DAYS) & (gaps >= GAP_FACTOR * before)
    # The step into the future, not every later day: leaving out only part of the future rows
    # would put the as-of date among them.
    future = (days[1:] > today + FUTURE_SLACK_DAYS) & (days[:-1] <= today + FUTURE_SLACK_DAYS)
    hit = (far | future) & (after <= allowed)
    return int(days[np.argmax(hit)]) if hit.any() else None


def future_rows(days: np.ndarray, counts: np.ndarray, last: int | None, today: int | None = None) -> int:
    """Events dated after today + FUTURE_SLACK_DAYS but kept (on or before ``last``, the last
    plausible day, or anywhere when None); ``days``, ``counts`` as for :func:`last_plausible_day`."""
    today = today_day() if today is None else today
    kept = days > today + FUTURE_SLACK_DAYS
    if last is not None:
        kept &= days <= last
    return int(np.asarray(counts)[kept].sum())


def screen(
    log: EventLog, rows: np.ndarray, *, until: str | None = None, today: int | None = None
) -> EventLog:
    """Leave out implausible dates and count implausible amounts as the customer's usual; in place.

    ``log``: a freshly built log (its events in any order); ``rows``: int, the file row number of
    each event (header = row 1), for messages. ``until``: ISO date of the last plausible day when
    the whole file decided it (a partition of a sharded file); otherwise decided on ``log``.
    ``today``: a day number (tests). Appends a warning per kind found and sets
    ``log.info["implausible"]``: ``dates_left_out`` and ``amounts_replaced`` (counts),
    ``amount_delta`` and ``refund_delta`` (the file's amounts minus those used, summed over all
    replaced rows and over refunds; money), ``rows`` (at most LISTED dicts: row, column, value as
    read, value used or None when left out). Returns ``log``; raises nothing.
    """
    listed: list[dict] = []
    info = {"dates_left_out": 0, "amounts_replaced": 0, "amount_delta": 0.0, "refund_delta": 0.0}
    log.info["implausible"] = info
    if log.n_events == 0:
        info["rows"] = listed
        return log
    rows = np.asarray(rows)
    keep = _screen_dates(log, rows, until, today, info, listed)
    if keep is not None:
        rows = rows[keep]
    _screen_amounts(log, rows, info, listed)
    info["rows"] = sorted(listed, key=lambda r: r["row"])[:LISTED]
    return log


def _screen_dates(
    log: EventLog, rows: np.ndarray, until: str | None, today: int | None, info: dict, listed: list
) -> np.ndarray | None:
    """Drop the events after the last plausible day; the keep mask (None when none dropped)."""
    lo = int(log.day.min())
    counts = np.bincount(log.day - lo)
    days = np.flatnonzero(counts)
    counts = counts[days]
    days = days + lo
    if until is not None:
        last = date_to_day(until)
        last = last if last < days[-1] else None
    else:
        last = last_plausible_day(days, counts, today)
        n_future = future_rows(days, counts, last, today)
        if n_future:
            log.warnings.append(
                f"{n_future} event(s) ({n_future / log.n_events:.1%}) are dated after today "
                f"({day_to_date(today_day() if today is None else today)}), too many to be typing "
                "errors; they were kept: check the dates (or the clock of the system that wrote them)"
            )
    if last is None:
        return None
    out = log.day > last
    idx = np.flatnonzero(out)
    idx = idx[np.argsort(rows[idx], kind="stable")]
    first_out = int(days[np.searchsorted(days, last, side="right")])
    why = f"the next date {day_to_date(first_out)} comes {first_out - last:,} days after it" + (
        " and after today"
        if first_out > (today_day() if today is None else today) + FUTURE_SLACK_DAYS
        else ""
    )
    examples = ", ".join(f"row {int(rows[i])} ({day_to_date(int(log.day[i]))})" for i in idx[:EXAMPLES])
    more = f" and {len(idx) - EXAMPLES} more" if len(idx) > EXAMPLES else ""
    log.warnings.append(
        f"left out {len(idx)} row(s) dated far after the rest of the log: {examples}{more}; the "
        f"other events end {day_to_date(last)} and {why}. A year typed wrong? The as-of date "
        f"defaults to the day after {day_to_date(last)}; correct the date in the file to use the row"
    )
    listed += [
        {"row": int(rows[i]), "column": "event_date", "value": day_to_date(int(log.day[i])), "used": None}
        for i in idx[:LISTED]
    ]
    info["dates_left_out"] = len(idx)
    keep = ~out
    _keep_events(log, keep)
    return keep


def _keep_events(log: EventLog, keep: np.ndarray) -> None:
    """Restrict every per-event array to ``keep``; recode customers if one lost all its events."""
    for name in ("customer", "day", "amount", "etype", "category", "quantity"):
        setattr(log, name, getattr(log, name)[keep])
    present = np.bincount(log.customer, minlength=log.n_customers) > 0
    if not present.all():
        code = np.cumsum(present) - 1
        log.customer = code[log.customer].astype(log.customer.dtype)
        log.customer_ids = log.customer_ids[present]
        if log.churn_label is not None:
            log.churn_label = log.churn_label[present]


def _screen_amounts(log: EventLog, rows: np.ndarray, info: dict, listed: list) -> None:
    """Count each implausible spend amount as the customer's usual purchase (sign kept)."""
    spend = log.is_spend()
    purchase = spend & (log.amount > 0)
    bought = log.amount[purchase]
    if len(bought) == 0:
        return
    k = int(LOG_QUANTILE * (len(bought) - 1))
    p99 = float(np.partition(bought, k)[k])
    size = np.abs(log.amount)
    # Only rows beyond the log's rule can be implausible: a handful, whose customers alone are
    # sorted below (the whole log is not).
    cand = np.flatnonzero(spend & (size > LOG_FACTOR * p99))
    if len(cand) == 0:
        return
    mine = purchase & np.isin(log.customer, np.unique(log.customer[cand]))
    c, v = log.customer[mine], log.amount[mine]
    order = np.lexsort((v, c))
    c, v = c[order], v[order]
    ids, start, n = np.unique(c, return_index=True, return_counts=True)
    usual_of = v[start + (n - 1) // 2]  # lower median: with 2 purchases, the smaller
    j = np.minimum(np.searchsorted(ids, log.customer[cand]), max(len(ids) - 1, 0))
    own = (ids[j] == log.customer[cand]) & (n[j] >= 2) if len(ids) else np.zeros(len(cand), bool)
    usual = np.where(own, usual_of[j] if len(ids) else 0.0, np.nan)
    flag = np.where(own, size[cand] > CUSTOMER_FACTOR * usual, size[cand] > LONE_LOG_FACTOR * p99)
    if not flag.any():
        return
    hit, usual, own = cand[flag], usual[flag], own[flag]
    if np.isnan(usual).any():
        median = float(np.median(bought))
        usual = np.where(np.isnan(usual), median, usual)
    before = log.amount[hit].copy()
    after = np.sign(before) * usual
    log.amount[hit] = after
    info["amounts_replaced"] = len(hit)
    info["amount_delta"] = float((before - after).sum())
    info["refund_delta"] = float((before - after)[before < 0].sum())
    order = np.argsort(rows[hit], kind="stable")
    examples = ", ".join(
        f"row {int(rows[hit[i]])} (customer {log.customer_ids[log.customer[hit[i]]]}: {before[i]:,.2f}, "
        f"{abs(before[i]) / abs(after[i]):,.0f}x {'their usual' if own[i] else 'the log median'} "
        f"{abs(after[i]):,.2f})"
        for i in order[:EXAMPLES]
    )
    more = f" and {len(hit) - EXAMPLES} more" if len(hit) > EXAMPLES else ""
    log.warnings.append(
        f"{len(hit)} amount(s) orders of magnitude above the customer's usual and the log's "
        f"(99% of purchases are at most {p99:,.2f}): {examples}{more}; each is counted as the "
        "customer's usual purchase in the forecasts (the profile's amount_total keeps the file's "
        "value). A misplaced decimal? Correct the amount in the file to use it as written"
    )
    listed += [
        {
            "row": int(rows[hit[i]]),
            "column": "amount",
            "value": round(float(before[i]), 2),
            "used": round(float(after[i]), 2),
        }
        for i in order[:LISTED]
    ]
