"""The normalized event log: integer-coded numpy arrays sorted by day, built from any input file.

Everything downstream (features, targets, profile) works on these arrays, so the cost of
strings and dates is paid once, here, on distinct values only. The builders: :func:`load_events`
(a file), :func:`from_table` (a raw table; its steps per column are in
:mod:`ml_pipeline.data.normalize`), :func:`from_frame` (a DataFrame), :func:`from_records`
(JSON events of the predict API, coded with the same vocabulary).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ml_pipeline.data import plausibility
from ml_pipeline.data.columns import resolve_columns
from ml_pipeline.data.days import EPOCH
from ml_pipeline.data.normalize import (
    PURCHASE,
    REFUND,
    BadRows,
    apply_refund_sign,
    check_bad_rows,
    encode_categories,
    encode_event_types,
    read_amounts,
    read_categories,
    read_customer_ids,
    read_days,
    read_event_types,
    read_quantities,
)
from ml_pipeline.data.readers import read_raw
from ml_pipeline.errors import EventLogError

logger = logging.getLogger(__name__)

DUPLICATE_POLICIES = ("warn", "keep", "drop", "error")
# The per-event arrays of an EventLog and their dtypes.
_ROW_DTYPES = {
    "customer": np.int32,
    "day": np.int32,
    "amount": np.float64,
    "etype": np.int16,
    "category": np.int16,
    "quantity": np.float64,
}
_EPOCH_DATE = dt.date(1970, 1, 1)


@dataclass
class EventLog:
    """Events as parallel arrays sorted by day; customers, types and categories are integer codes."""

    customer_ids: np.ndarray  # code -> original id (str)
    customer: np.ndarray  # int32 customer code per event (its id: customer_ids[code])
    day: np.ndarray  # int32 days since 1970-01-01, ascending
    amount: np.ndarray  # float64, negative = refund
    etype: np.ndarray  # int16 code into event_types
    event_types: list[str]
    category: np.ndarray  # int16 code into categories, -1 = none
    categories: list[str]
    quantity: np.ndarray  # float64, NaN = not given
    warnings: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    cache: dict = field(default_factory=dict, repr=False)  # groupings reused across cutoffs

    @property
    def n_events(self) -> int:
        return len(self.day)

    @property
    def n_customers(self) -> int:
        return len(self.customer_ids)

    def type_code(self, name: str) -> int:
        """Code of an event type, or -1 when the log has none of it."""
        return self.event_types.index(name) if name in self.event_types else -1

    def is_spend(self) -> np.ndarray:
        """Rows whose amount counts as spend: purchases and refunds."""
        return np.isin(self.etype, [self.type_code(PURCHASE), self.type_code(REFUND)])

    def end_before(self, day: int) -> int:
        """Number of events dated strictly before ``day`` (they form a prefix)."""
        return int(np.searchsorted(self.day, day, side="left"))

    def head(self, day: int) -> EventLog:
        """The log restricted to events strictly before ``day``."""
        n = self.end_before(day)
        return EventLog(
            self.customer_ids,
            self.customer[:n],
            self.day[:n],
            self.amount[:n],
            self.etype[:n],
            self.event_types,
            self.category[:n],
            self.categories,
            self.quantity[:n],
        )

    def to_frame(self) -> pd.DataFrame:
        """The normalized events as a DataFrame (for inspection and tests)."""
        cats = np.array([*self.categories, None], dtype=object)
        return pd.DataFrame(
            {
                "customer_id": self.customer_ids[self.customer],
                "event_date": (EPOCH + self.day.astype("timedelta64[D]")).astype("datetime64[s]"),
                "amount": self.amount,
                "event_type": np.array(self.event_types, dtype=object)[self.etype],
                "category": cats[self.category],
                "quantity": self.quantity,
            }
        )


def from_frame(frame: pd.DataFrame, **kwargs) -> EventLog:
    """Build an EventLog from an in-memory frame with event-log columns (used by the API and tests).

    Every cell is read as text, as from a CSV file; ``kwargs`` as for :func:`from_table`.
    """
    table = pa.Table.from_pandas(frame.astype("string").fillna(""), preserve_index=False)
    return from_table(table, source="frame", **kwargs)


def from_records(records: list[tuple[str, str, float, str | None, str | None]]) -> EventLog:
    """Build an EventLog from (customer_id, ISO date, amount, event_type, category) tuples.

    The fast path for events that arrive as JSON (the predict API): dates must be ISO 8601
    (a date or a datetime; the date part is used), amounts numbers (None = 0). Event types and
    categories are coded as in a file (:func:`~ml_pipeline.data.normalize.event_type_name`, the
    refund sign). Raises EventLogError naming the record.
    """
    if not records:
        raise EventLogError("no events")
    n = len(records)
    day = np.empty(n, dtype=np.int32)
    amount = np.empty(n, dtype=np.float64)
    for i, (_, date, value, _, _) in enumerate(records):
        try:
            day[i] = (dt.date.fromisoformat(str(date)[:10]) - _EPOCH_DATE).days
        except ValueError:
            raise EventLogError(
                f"event {i + 1}: event_date '{date}' is not an ISO date (YYYY-MM-DD)"
            ) from None
        amount[i] = value or 0.0
    ids, customer = np.unique(np.array([str(r[0]) for r in records], dtype=object), return_inverse=True)
    event_types, etype = _encode_records([r[3] or "" for r in records], encode_event_types)
    etype, event_types, amount = apply_refund_sign(etype, event_types, amount)
    categories, category = _encode_records([r[4] or "" for r in records], encode_categories)
    return _in_day_order(
        EventLog(
            customer_ids=ids.astype(str).astype(object),
            customer=customer,
            day=day,
            amount=amount,
            etype=etype,
            event_types=event_types,
            category=category,
            categories=categories,
            quantity=np.full(n, np.nan),
        )
    )


def _encode_records(
    values: list[str], encode: Callable[[Sequence[str]], tuple[list[str], np.ndarray]]
) -> tuple[list[str], np.ndarray]:
    """(names, int64 code per value) by ``encode``-ing the distinct values only."""
    distinct = dict.fromkeys(values)
    names, codes = encode(list(distinct))
    index = dict(zip(distinct, range(len(distinct)), strict=True))
    return names, codes[np.fromiter((index[v] for v in values), np.int64, len(values))]


def load_events(
    path: str | Path,
    *,
    column_mapping: dict[str, str] | None = None,
    sheet: str | None = None,
    date_format: str | None = None,
    max_bad_share: float = 0.01,
    duplicates: str = "warn",
) -> EventLog:
    """Read and normalize an event-log file; raises EventLogError with a one-line reason.

    Arguments as for :func:`from_table`; ``sheet`` picks an Excel sheet.
    """
    raw = read_raw(path, sheet=sheet)
    log = from_table(
        raw.table,
        source=Path(path).name,
        column_mapping=column_mapping,
        date_format=date_format,
        max_bad_share=max_bad_share,
        duplicates=duplicates,
    )
    log.warnings[:0] = raw.warnings
    log.info["format"] = raw.source_format
    return log


def from_table(
    table: pa.Table,
    *,
    source: str,
    column_mapping: dict[str, str] | None = None,
    date_format: str | None = None,
    formats: dict[str, str] | None = None,
    row_numbers: np.ndarray | None = None,
    max_bad_share: float = 0.01,
    duplicates: str = "warn",
) -> EventLog:
    """Build an EventLog from a raw table of one file's columns: parse, check and encode them.

    ``source`` names the file in messages. ``formats`` holds formats chosen for the whole file
    when ``table`` is only part of it (``{"date": ..., "amount": ...}``, from
    :mod:`ml_pipeline.data.sharding`); ``row_numbers`` are then the rows' numbers in that file,
    used in messages. Bad rows (empty id, unreadable date, amount not a number) are dropped with
    a warning up to ``max_bad_share``; exact duplicates follow ``duplicates`` (one of
    DUPLICATE_POLICIES). Raises EventLogError for a missing column, an empty table, too many bad
    rows, an ambiguous or mixed format, or duplicates refused by the policy.
    """
    formats = formats or {}
    if duplicates not in DUPLICATE_POLICIES:
        raise EventLogError(f"duplicates policy must be one of {', '.join(DUPLICATE_POLICIES)}")
    cols, warnings = resolve_columns(table.column_names, column_mapping)
    n = table.num_rows
    if n == 0:
        raise EventLogError(f"{source}: the file has a header but no data rows")
    bad = BadRows(n, row_numbers)
    ids, id_codes = read_customer_ids(table, cols, bad)
    day, date_fmt = read_days(
        table, cols, bad, date_format=date_format, decided=formats.get("date"), max_bad_share=max_bad_share
    )
    amount = read_amounts(table, cols, bad, style=formats.get("amount"), warnings=warnings)
    event_types, etype = read_event_types(table, cols)
    categories, category = read_categories(table, cols)
    quantity = read_quantities(table, cols)
    check_bad_rows(bad, max_bad_share, source, warnings)
    etype, event_types, amount = apply_refund_sign(etype, event_types, amount)

    keep = ~bad.mask
    used_ids, customer = np.unique(id_codes[keep], return_inverse=True)
    file_rows = row_numbers if row_numbers is not None else np.arange(2, n + 2)
    log = _screened_in_day_order(
        EventLog(
            customer_ids=ids.to_numpy(dtype=object)[used_ids].astype(str).astype(object),
            customer=customer,
            day=day[keep].astype(np.int32),
            amount=amount[keep],
            etype=etype[keep],
            event_types=event_types,
            category=category[keep],
            categories=categories,
            quantity=quantity[keep],
            warnings=warnings,
            info={
                "rows_read": n,
                "rows_dropped": int(bad.mask.sum()),
                "date_format": date_fmt,
                "columns": cols,
            },
        ),
        file_rows[keep],
        formats,
    )
    _handle_duplicates(log, duplicates, max_bad_share)
    return log


def _in_day_order(log: EventLog) -> EventLog:
    """The log with its events sorted by day (stable: one day's events keep their order) and typed."""
    order = np.argsort(log.day, kind="stable")
    for name, dtype in _ROW_DTYPES.items():
        setattr(log, name, getattr(log, name)[order].astype(dtype, copy=False))
    return log


def _screened_in_day_order(log: EventLog, rows: np.ndarray, formats: dict[str, str]) -> EventLog:
    """The log with implausible dates left out and amounts tamed (``rows``: each event's file row;
    ``formats``: may hold the file-wide last plausible day), then sorted by day; see
    :mod:`ml_pipeline.data.plausibility`."""
    return _in_day_order(plausibility.screen(log, rows, until=formats.get(plausibility.PLAUSIBLE_UNTIL)))


def _handle_duplicates(log: EventLog, policy: str, max_share: float) -> None:
    """Keep, drop or refuse exact duplicate events by ``policy``; counts them in ``log.info``."""
    frame = pd.DataFrame(
        {
            "c": log.customer,
            "d": log.day,
            "a": log.amount,
            "t": log.etype,
            "k": log.category,
            "q": log.quantity,
        }
    )
    dup = frame.duplicated().to_numpy()
    k = int(dup.sum())
    log.info["duplicate_rows"] = k
    if k == 0:
        return
    share = k / len(dup)
    example = log.customer_ids[log.customer[np.argmax(dup)]]
    what = f"{k} exact duplicate row(s) ({share:.1%}; e.g. customer {example})"
    if policy == "error" or (policy == "warn" and share > max(max_share, 0.05)):
        raise EventLogError(
            f"{what}: the file may hold the same rows twice; pass --duplicates drop, "
            "or --duplicates keep when repeated identical purchases are real"
        )
    if policy == "drop":
        keep = ~dup
        for name in _ROW_DTYPES:
            setattr(log, name, getattr(log, name)[keep])
        log.warnings.append(f"dropped {what}")
    else:
        log.warnings.append(f"kept {what}: identical purchases on one day are counted as separate events")
