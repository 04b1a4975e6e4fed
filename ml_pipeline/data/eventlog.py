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
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ml_pipeline.data import plausibility
from ml_pipeline.data.arrow_columns import distinct_values
from ml_pipeline.data.columns import resolve_columns
from ml_pipeline.data.days import EPOCH
from ml_pipeline.data.labels import FIELD as LABEL_FIELD
from ml_pipeline.data.labels import customer_labels, label_note, read_row_labels
from ml_pipeline.data.normalize import (
    PURCHASE,
    REFUND,
    BadRows,
    apply_refund_sign,
    check_bad_rows,
    encode_categories,
    encode_event_types,
    id_text,
    line_item_amounts,
    read_amounts,
    read_cancellations,
    read_categories,
    read_customer_ids,
    read_days,
    read_event_types,
    read_quantities,
    skip_blank_and_header_rows,
)
from ml_pipeline.data.options import DUPLICATE_POLICIES, ReadOptions
from ml_pipeline.data.readers import read_raw, with_sheet_hint
from ml_pipeline.errors import EventLogError

logger = logging.getLogger(__name__)

__all__ = ["DUPLICATE_POLICIES", "PURCHASE", "REFUND", "EventLog", "ReadOptions"]
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
    # float64 per customer code: the churn_label column's 0/1, NaN = unknown; None = no such column
    churn_label: np.ndarray | None = None

    @property
    def n_events(self) -> int:
        return len(self.day)

    @property
    def n_customers(self) -> int:
        return len(self.customer_ids)

    def type_code(self, name: str) -> int:
        """Code of an event type, or -1 when the log has none of it."""
        return self.event_types.index(name) if name in self.event_types else -1

    def has_purchases(self) -> bool:
        """Whether any event is a purchase."""
        code = self.type_code(PURCHASE)
        return code >= 0 and bool((self.etype == code).any())

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
            churn_label=self.churn_label,
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


def from_frame(
    frame: pd.DataFrame, options: ReadOptions | None = None, formats: dict[str, str] | None = None, **kwargs
) -> EventLog:
    """Build an EventLog from an in-memory frame with event-log columns (used by the API and tests).

    Every cell is read as text, as from a CSV file; ``options`` (or its fields as ``kwargs``) as
    for :func:`load_events`, ``formats`` as for :func:`from_table`.
    """
    table = pa.Table.from_pandas(frame.astype("string").fillna(""), preserve_index=False)
    return from_table(table, source="frame", options=_options(options, kwargs), formats=formats)


def _options(options: ReadOptions | None, kwargs: dict) -> ReadOptions:
    if options is not None and kwargs:
        raise TypeError("pass either options or its fields, not both")
    return options if options is not None else ReadOptions(**kwargs)


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
            # Already Python strings: numpy's fixed-width str dtype would drop a trailing NUL
            # character ("a\x00" became "a"), and the caller could not find its customer.
            customer_ids=ids,
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
    path: str | Path, options: ReadOptions | None = None, *, max_inflated_mb: float | None = None, **kwargs
) -> EventLog:
    """Read and normalize an event-log file; raises EventLogError with a one-line reason.

    ``options`` says how to read it (:class:`~ml_pipeline.data.options.ReadOptions`; its fields
    may be given as keyword arguments instead, e.g. ``duplicates="drop"``). A compressed file
    (.gz, .xlsx) whose contents pass ``max_inflated_mb`` MB is refused before it is parsed (None:
    no limit; :func:`~ml_pipeline.data.readers.check_inflated_size`).
    """
    options = _options(options, kwargs)
    raw = read_raw(path, sheet=options.sheet, encoding=options.encoding, max_inflated_mb=max_inflated_mb)
    warnings, source_format, encoding = raw.warnings, raw.source_format, raw.encoding
    handover = TableHandover(raw.table)
    del raw
    try:
        log = from_table(handover, source=Path(path).name, options=options)
    except EventLogError as exc:
        raise with_sheet_hint(exc, warnings) from exc
    finally:
        release_arrow_memory()
    log.warnings[:0] = warnings
    log.info["format"] = source_format
    if encoding:
        log.info["encoding"] = encoding
    return log


def release_arrow_memory() -> None:
    """Hand the pages pyarrow's allocator keeps after its tables are freed back to the system.

    Its pool (mimalloc or jemalloc) keeps them for reuse, but numpy, which builds everything
    after reading, allocates elsewhere: after reading 10M events, 0.9 GB of 1.5 GB resident was
    such kept pages, and they stayed for the whole run (docs/benchmarks.md)."""
    pa.default_memory_pool().release_unused()


@dataclass
class TableHandover:
    """A raw table handed to :func:`from_table` to free as soon as it has read what it needs (its
    own reference is the last one): the caller keeps no other. Reading 10M events, that is
    0.6 GB less held while the events are sorted."""

    table: pa.Table | None


def from_table(
    table: pa.Table | TableHandover,
    *,
    source: str,
    options: ReadOptions | None = None,
    formats: dict[str, str] | None = None,
    row_numbers: np.ndarray | None = None,
) -> EventLog:
    """Build an EventLog from a raw table of one file's columns: parse, check and encode them.

    ``source`` names the file in messages. ``formats`` holds formats chosen for the whole file
    when ``table`` is only part of it (``{"date": ..., "amount": ...}``, from
    :mod:`ml_pipeline.data.sharding`); ``row_numbers`` are then the rows' numbers in that file,
    used in messages. Bad rows (empty id, unreadable date, amount not a number) are dropped with
    a warning up to ``options.max_bad_share``; exact duplicates follow ``options.duplicates``. Raises EventLogError for a missing column, an empty table, too many bad
    rows, an ambiguous or mixed format, or duplicates refused by the policy.
    """
    if isinstance(table, TableHandover):
        handover, table = table, table.table
        handover.table = None
    formats = formats or {}
    options = options or ReadOptions()
    cols, warnings = resolve_columns(table.column_names, options.column_mapping)
    n = table.num_rows
    if n == 0:
        raise EventLogError(f"{source}: the file has a header but no data rows")
    bad, notes = BadRows(n, row_numbers), {}
    raw_ids = distinct_values(id_text(table.column(cols["customer_id"])))
    skip_blank_and_header_rows(table, cols, bad, raw_ids)
    ids, id_codes = read_customer_ids(raw_ids, cols, bad, notes)
    day, date_fmt = read_days(
        table,
        cols,
        bad,
        date_format=options.date_format,
        decided=formats.get("date"),
        max_bad_share=options.max_bad_share,
        warnings=warnings,
    )
    amount = read_amounts(
        table, cols, bad, style=options.decimal or formats.get("amount"), warnings=warnings, notes=notes
    )
    quantity = read_quantities(table, cols)
    amount = line_item_amounts(amount, quantity, cols, bad, options.amount_is, notes)
    event_types, etype = read_event_types(
        table, cols, bad, mapping=options.event_types, statuses=_decided(formats, "statuses"), notes=notes
    )
    cancelled = read_cancellations(table, cols, _decided(formats, "cancellations"))
    categories, category = read_categories(table, cols)
    check_bad_rows(bad, options.max_bad_share, source, warnings)
    etype, event_types, amount = apply_refund_sign(etype, event_types, amount, cancelled)
    if cancelled is not None:
        notes["cancellations"] = f"{cols['order_id']} starting with C: a cancellation, read as a refund"

    rows = np.flatnonzero(~bad.dropped)
    row_label = read_row_labels(table, cols, rows, bad.row, source, warnings)
    if row_label is None and LABEL_FIELD in cols:  # a column named like a label that is not one
        cols = {k: v for k, v in cols.items() if k != LABEL_FIELD}
    every_row = len(rows) == n  # then no copy of the rows kept: the arrays as they are
    columns = {
        name: (values if every_row else values[rows]).astype(_ROW_DTYPES[name], copy=False)
        for name, values in (
            ("customer", id_codes),
            ("day", day),
            ("amount", amount),
            ("etype", etype),
            ("category", category),
            ("quantity", quantity),
        )
    }
    del id_codes, day, amount, etype, category, quantity  # the parsed copies, when retyped (0.3 GB)
    # A customer's label is not part of an event: rows that differ only in it are duplicates.
    dup = _duplicates(
        table.drop_columns([cols[LABEL_FIELD]]) if row_label is not None else table, rows, columns
    )
    del table  # the last use: a handed-over table is freed here
    release_arrow_memory()
    duplicates = _duplicate_policy(dup, options, lambda i: ids.iloc[int(columns["customer"][i])])
    file_rows = (row_numbers if row_numbers is not None else np.arange(2, n + 2))[rows]
    if row_label is not None:  # before duplicates are dropped: the latest row's label wins
        labels, conflicts = customer_labels(
            row_label, columns["customer"], columns["day"], file_rows, len(ids)
        )
    if duplicates["drop"]:
        columns = {k: v[~dup] for k, v in columns.items()}
        file_rows = file_rows[~dup]
    used_ids, columns["customer"] = _used_codes(columns["customer"], len(ids))
    if row_label is not None:
        notes[LABEL_FIELD] = label_note(cols[LABEL_FIELD], labels[used_ids], conflicts, warnings)
    log = _screened_in_day_order(
        EventLog(
            customer_ids=ids.to_numpy(dtype=object)[used_ids],
            event_types=event_types,
            categories=categories,
            warnings=warnings,
            info={
                "rows_read": n,
                "rows_dropped": int(bad.dropped.sum()),
                "date_format": date_fmt,
                "columns": cols,
                "duplicate_rows": duplicates["count"],
                "reading": notes,
            },
            churn_label=labels[used_ids] if row_label is not None else None,
            **columns,
        ),
        file_rows,
        formats,
    )
    if duplicates["warning"]:
        log.warnings.append(duplicates["warning"])
    _warn_without_purchases(log)
    return log


def _used_codes(codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(codes, return_inverse=True)`` for codes in [0, k): (the codes that occur,
    ascending; each code's index among them), by counting instead of sorting 10M codes."""
    present = np.bincount(codes, minlength=k) > 0
    used = np.flatnonzero(present)
    if len(used) == k:
        return used, codes
    return used, (np.cumsum(present) - 1)[codes]


def _decided(formats: dict, key: str) -> bool | None:
    """A yes/no decision made for the whole file (sharding), or None to decide from this table."""
    return None if key not in formats else formats[key] == "yes"


def _warn_without_purchases(log: EventLog) -> None:
    """A log with no purchase cannot be scored: say which event types it holds and the way out."""
    if not log.has_purchases():
        log.warnings.append(no_purchase_message(log))


def no_purchase_message(log: EventLog) -> str:
    """ "no purchase events: the event types are X (n), ...; say which mean a purchase with
    --event-type X=purchase"."""
    counts = np.bincount(log.etype, minlength=len(log.event_types))
    seen = ", ".join(f"{t} ({c})" for t, c in zip(log.event_types, counts) if c > 0) or "none"
    common = [t for _, t in sorted(zip(-counts, log.event_types)) if t != REFUND]
    example = common[0] if common else "VALUE"  # the most frequent type is the likeliest purchase
    return (
        f"no purchase events: the event types are {seen}; say which mean a purchase with "
        f"--event-type {example}=purchase"
    )


def _in_day_order(log: EventLog) -> EventLog:
    """The log with its events sorted by day (stable: one day's events keep their order) and typed."""
    order = day_order(log.day)
    for name, dtype in _ROW_DTYPES.items():
        setattr(log, name, getattr(log, name)[order].astype(dtype, copy=False))
    return log


def day_order(day: np.ndarray) -> np.ndarray:
    """``np.argsort(day, kind="stable")`` for int day numbers; a log spanning fewer than 65,536
    days is sorted as 16-bit offsets, which numpy sorts by radix in one pass over the rows."""
    if len(day) == 0:
        return np.zeros(0, dtype=np.intp)
    lo, hi = int(day.min()), int(day.max())
    if hi - lo < 1 << 16:
        return np.argsort((day - lo).astype(np.uint16), kind="stable")
    return np.argsort(day, kind="stable")


def _screened_in_day_order(log: EventLog, rows: np.ndarray, formats: dict[str, str]) -> EventLog:
    """The log with implausible dates left out and amounts tamed (``rows``: each event's file row;
    ``formats``: may hold the file-wide last plausible day), then sorted by day; see
    :mod:`ml_pipeline.data.plausibility`."""
    return _in_day_order(plausibility.screen(log, rows, until=formats.get(plausibility.PLAUSIBLE_UNTIL)))


def _duplicates(table: pa.Table, rows: np.ndarray, columns: dict[str, np.ndarray]) -> np.ndarray:
    """Exact duplicate rows among ``rows`` of ``table`` (bool per kept row; the first of each
    group is not a duplicate).

    Rows equal in every normalized column are only candidates: they are duplicates when the raw
    rows are equal in every column of the file too, so the lines of one invoice that differ in a
    column the product does not use (a stock code, a time of day) are not counted.
    """
    dup = np.zeros(len(rows), dtype=bool)
    # Equal rows have equal keys, so only rows whose key is shared can be duplicates: pandas'
    # comparison of every column then runs on those few rather than on every row (a third of
    # the reading time at 10M rows); the result is that of ``DataFrame(columns).duplicated()``.
    shared = np.flatnonzero(shared_keys(event_keys(columns)))
    if len(shared) == 0:
        return dup
    normalized = pd.DataFrame({k: v[shared] for k, v in columns.items()})
    # Raw duplicates are normalized duplicates, so they are among the rows of a normalized
    # duplicate group: a small set, compared on every column of the file.
    grouped = shared[normalized.duplicated(keep=False).to_numpy()]
    if len(grouped) == 0:
        return dup
    raw = table.take(pa.array(rows[grouped])).to_pandas()
    dup[grouped] = raw.duplicated().to_numpy()
    return dup


_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd: the amount's bits reach every bit of the key


def event_keys(columns: dict[str, np.ndarray]) -> np.ndarray:
    """One uint64 per event from its customer, day, event type and amount (int arrays and a
    float64 amount of one length): events equal in these (an amount's NaN equal to NaN, 0.0 to
    -0.0, as pandas compares) get equal keys; unequal events rarely share one, so a shared key
    marks a candidate duplicate to compare exactly. The category and quantity are left to that
    comparison: a customer's events of one day, type and amount are already few."""
    key = columns["customer"].astype(np.uint64) << np.uint64(32)
    key |= columns["day"].astype(np.uint32)  # days before 1970 wrap, still one key per day
    key ^= columns["etype"].astype(np.uint64) << np.uint64(56)
    amount = columns["amount"] + 0.0  # -0.0 + 0.0 is 0.0
    amount[np.isnan(amount)] = np.nan  # one NaN bit pattern
    key *= _MIX
    key ^= amount.view(np.uint64)
    key ^= key >> np.uint64(29)
    return key


def shared_keys(keys: np.ndarray) -> np.ndarray:
    """Whether each uint64 key occurs more than once (bool per key).

    A sort finds the shared keys (a hash table over 10M distinct keys was several times slower
    on this machine); a table of their low 16 bits (64 KiB, in the processor's cache) then picks
    the few keys that may be one of them, and only those are looked up among the shared keys.
    """
    ordered = np.sort(keys)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    out = np.zeros(len(keys), dtype=bool)
    if len(repeated) == 0:
        return out
    repeated = np.unique(repeated)
    table = np.zeros(1 << 16, dtype=bool)
    table[_low16(repeated)] = True
    maybe = np.flatnonzero(table[_low16(keys)])
    found = repeated[np.minimum(np.searchsorted(repeated, keys[maybe]), len(repeated) - 1)]
    out[maybe] = found == keys[maybe]
    return out


def _low16(keys: np.ndarray) -> np.ndarray:
    """The low 16 bits of each uint64 key (read in place on a little-endian machine: no copy)."""
    if sys.byteorder == "little":
        return np.ascontiguousarray(keys).view(np.uint16)[::4]
    return (keys & np.uint64(0xFFFF)).astype(np.intp)


def _duplicate_policy(dup: np.ndarray, options: ReadOptions, customer_of: Callable[[int], str]) -> dict:
    """What the duplicates policy does with ``dup`` rows: {"count", "drop", "warning"}; raises
    EventLogError when the policy (or too large a share under "warn") refuses them."""
    k = int(dup.sum())
    if k == 0:
        return {"count": 0, "drop": False, "warning": None}
    share = k / len(dup)
    what = f"{k} exact duplicate row(s) ({share:.1%}; e.g. customer {customer_of(int(np.argmax(dup)))})"
    policy = options.duplicates
    if policy == "error" or (policy == "warn" and share > max(options.max_bad_share, 0.05)):
        raise EventLogError(
            f"{what}: the file may hold the same rows twice; pass --duplicates drop, "
            "or --duplicates keep when repeated identical purchases are real"
        )
    if policy == "drop":
        return {"count": k, "drop": True, "warning": f"dropped {what}"}
    return {
        "count": k,
        "drop": False,
        "warning": f"kept {what}: identical purchases on one day are counted as separate events",
    }
