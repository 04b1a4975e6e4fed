"""The normalized event log: integer-coded numpy arrays sorted by day, built from any input file.

Everything downstream (features, targets, profile) works on these arrays, so the cost of
strings and dates is paid once, here, on distinct values only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ml_pipeline.data.columns import resolve_columns
from ml_pipeline.data.days import EPOCH
from ml_pipeline.data.parsing import parse_amounts, parse_dates
from ml_pipeline.data.readers import read_raw
from ml_pipeline.errors import EventLogError

logger = logging.getLogger(__name__)

PURCHASE, REFUND = "purchase", "refund"
_TYPE_ALIASES = {
    "order": PURCHASE,
    "sale": PURCHASE,
    "transaction": PURCHASE,
    "buy": PURCHASE,
    "purchased": PURCHASE,
    "invoice": PURCHASE,
    "return": REFUND,
    "refunded": REFUND,
    "chargeback": REFUND,
    "returned": REFUND,
}
DUPLICATE_POLICIES = ("warn", "keep", "drop", "error")


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
    """Build an EventLog from an in-memory frame with event-log columns (used by the API and tests)."""
    table = pa.Table.from_pandas(frame.astype("string").fillna(""), preserve_index=False)
    return _normalize(table, source="frame", **kwargs)


def from_records(records: list[tuple[str, str, float, str | None, str | None]]) -> EventLog:
    """Build an EventLog from (customer_id, ISO date, amount, event_type, category) tuples.

    The fast path for events that arrive as JSON (the predict API): dates must be ISO 8601
    (a date or a datetime; the date part is used), amounts numbers. Raises EventLogError naming
    the record.
    """
    import datetime as dt

    if not records:
        raise EventLogError("no events")
    epoch = dt.date(1970, 1, 1)
    n = len(records)
    day = np.empty(n, dtype=np.int32)
    amount = np.empty(n, dtype=np.float64)
    for i, (_, date, value, _, _) in enumerate(records):
        try:
            day[i] = (dt.date.fromisoformat(str(date)[:10]) - epoch).days
        except ValueError:
            raise EventLogError(
                f"event {i + 1}: event_date '{date}' is not an ISO date (YYYY-MM-DD)"
            ) from None
        amount[i] = value or 0.0
    ids, customer = np.unique(np.array([str(r[0]) for r in records], dtype=object), return_inverse=True)
    types = [_TYPE_ALIASES.get(t, t) for t in ((r[3] or PURCHASE).strip().lower() for r in records)]
    types = [REFUND if t == PURCHASE and a < 0 else t for t, a in zip(types, amount)]
    etype_names, etype = np.unique(np.array([*types, PURCHASE, REFUND], dtype=object), return_inverse=True)
    etype = etype[:n]
    amount = np.where(etype == list(etype_names).index(REFUND), -np.abs(amount), amount)
    cats = [(r[4] or "").strip() for r in records]
    cat_names = sorted({c for c in cats if c})
    cat_index = {c: i for i, c in enumerate(cat_names)}
    category = np.array([cat_index.get(c, -1) for c in cats], dtype=np.int16)
    order = np.argsort(day, kind="stable")
    return EventLog(
        customer_ids=ids.astype(str).astype(object),
        customer=customer[order].astype(np.int32),
        day=day[order],
        amount=amount[order],
        etype=etype[order].astype(np.int16),
        event_types=[str(t) for t in etype_names],
        category=category[order],
        categories=cat_names,
        quantity=np.full(n, np.nan),
    )


def load_events(
    path: str | Path,
    *,
    column_mapping: dict[str, str] | None = None,
    sheet: str | None = None,
    date_format: str | None = None,
    max_bad_share: float = 0.01,
    duplicates: str = "warn",
) -> EventLog:
    """Read and normalize an event-log file; raises EventLogError with a one-line reason."""
    raw = read_raw(path, sheet=sheet)
    log = _normalize(
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


def distinct_values(col: pa.ChunkedArray) -> tuple[pd.Series, np.ndarray]:
    """Distinct string values and, per row, the index of its value."""
    encoded = pc.dictionary_encode(col.cast(pa.string()), null_encoding="encode").combine_chunks()
    values = encoded.dictionary.to_pandas().astype("string")
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return values, codes


def row_locator(values: pd.Series, codes: np.ndarray, row_of):
    """value -> the file row of its first occurrence (``row_of`` maps a table index to a row).

    The lookup is built only when an example row is actually asked for (an error or a warning).
    """
    lookup: dict = {}

    def row(value) -> int:
        if not lookup:
            lookup.update((v, i) for i, v in enumerate(values.fillna("")))
        return row_of(int(np.argmax(codes == lookup.get(value, -1))))

    return row


def is_native_date(col: pa.ChunkedArray) -> bool:
    """A typed date or timestamp column (Parquet, Arrow), read without parsing text."""
    return pa.types.is_timestamp(col.type) or pa.types.is_date(col.type)


def native_days(col: pa.ChunkedArray) -> np.ndarray:
    """Days since 1970-01-01 of a typed date column, NaN where empty."""
    arr = col.cast(pa.timestamp("s")).to_numpy().astype("datetime64[D]")
    days = (arr - EPOCH).astype("float64")
    days[np.isnat(arr)] = np.nan
    return days


def is_numeric(col: pa.ChunkedArray) -> bool:
    return pa.types.is_integer(col.type) or pa.types.is_floating(col.type)


class _BadRows:
    """Collects rows that are bad in isolation, with the first example of each reason."""

    def __init__(self, n: int):
        self.mask = np.zeros(n, dtype=bool)
        self.reasons: list[tuple[str, int, int]] = []  # (message, first row index, count)
        self.row_numbers: np.ndarray | None = None  # file row per table row, when not index + 2

    def row(self, index: int) -> int:
        """Row number as a spreadsheet shows it: the header is row 1."""
        return int(self.row_numbers[index]) if self.row_numbers is not None else index + 2

    def add(self, hit: np.ndarray, message: str) -> None:
        new = hit & ~self.mask
        if new.any():
            self.reasons.append((message, int(np.argmax(new)), int(new.sum())))
            self.mask |= new


def from_table(table: pa.Table, **kwargs) -> EventLog:
    """Build an EventLog from a raw table of one file's columns (see :func:`_normalize`)."""
    return _normalize(table, **kwargs)


def _normalize(
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
    """Parse, check and encode a raw table.

    ``formats`` holds formats chosen for the whole file when ``table`` is only part of it
    (``{"date": ..., "amount": ...}``, from :mod:`ml_pipeline.data.sharding`); ``row_numbers`` are then
    the rows' numbers in that file, used in messages.
    """
    formats = formats or {}
    if duplicates not in DUPLICATE_POLICIES:
        raise EventLogError(f"duplicates policy must be one of {', '.join(DUPLICATE_POLICIES)}")
    cols, warnings = resolve_columns(table.column_names, column_mapping)
    n = table.num_rows
    if n == 0:
        raise EventLogError(f"{source}: the file has a header but no data rows")
    bad = _BadRows(n)
    if row_numbers is not None:
        bad.row_numbers = row_numbers

    def col(name: str) -> pa.ChunkedArray:
        return table.column(cols[name])

    def locator(values: pd.Series, codes: np.ndarray):
        return row_locator(values, codes, bad.row)

    # customer ids
    ids, id_codes = distinct_values(col("customer_id"))
    ids = ids.fillna("").str.strip()
    bad.add((ids == "").to_numpy(bool)[id_codes], f"empty {cols['customer_id']}")

    # dates
    date_col = col("event_date")
    if is_native_date(date_col):
        day_f = native_days(date_col)
        date_fmt = "native"
    else:
        values, codes = distinct_values(date_col)
        counts = np.bincount(codes, minlength=len(values))
        parsed = parse_dates(
            values,
            counts,
            column=cols["event_date"],
            date_format=date_format,
            decided=formats.get("date"),
            max_bad_share=max_bad_share,
            example_row=locator(values, codes),
        )
        day_f = parsed.days[codes]
        date_fmt = parsed.format
    bad.add(np.isnan(day_f), f"unreadable {cols['event_date']}")

    # amounts
    if "amount" in cols:
        acol = col("amount")
        if is_numeric(acol):
            amount = acol.cast(pa.float64()).fill_null(0).to_numpy()
        else:
            values, codes = distinct_values(acol)
            amount = parse_amounts(
                values, column=cols["amount"], style=formats.get("amount"), example_row=locator(values, codes)
            )[codes]
        bad.add(np.isnan(amount) | np.isinf(amount), f"{cols['amount']} is not a number")
    else:
        amount = np.zeros(n)
        warnings.append("no amount column: every amount is 0, spend targets will be 0")

    # event types
    if "event_type" in cols:
        values, codes = distinct_values(col("event_type"))
        names = values.fillna("").str.strip().str.lower().str.replace(r"\s+", "_", regex=True)
        names = names.where(names != "", PURCHASE).map(lambda v: _TYPE_ALIASES.get(v, v))
        event_types, type_codes = np.unique(names.to_numpy(dtype=object).astype(str), return_inverse=True)
        etype_names = [str(t) for t in event_types]
        etype = type_codes[codes]
    else:
        etype_names, etype = [PURCHASE], np.zeros(n, dtype=np.int64)

    # categories
    if "category" in cols:
        values, codes = distinct_values(col("category"))
        names = values.fillna("").str.strip()
        uniq, inv = np.unique(names.to_numpy(dtype=object).astype(str), return_inverse=True)
        cat_names = [str(c) for c in uniq if c != ""]
        remap = np.array([cat_names.index(c) if c != "" else -1 for c in uniq], dtype=np.int64)
        category = remap[inv][codes]
    else:
        cat_names, category = [], np.full(n, -1, dtype=np.int64)

    quantity = np.full(n, np.nan)
    if "quantity" in cols:
        qcol = col("quantity")
        if is_numeric(qcol):
            quantity = qcol.cast(pa.float64()).to_numpy(zero_copy_only=False)
        else:
            values, codes = distinct_values(qcol)
            quantity = pd.to_numeric(values.str.replace(",", ".", regex=False), errors="coerce").to_numpy(
                dtype="float64", na_value=np.nan
            )[codes]

    _check_bad_rows(bad, n, max_bad_share, source, ids, id_codes, warnings)
    keep = ~bad.mask
    # A negative purchase is a refund; refunds are stored negative whatever sign the file used.
    if REFUND not in etype_names:
        etype_names = [*etype_names, REFUND]
    refund_code = etype_names.index(REFUND)
    purchase_code = etype_names.index(PURCHASE) if PURCHASE in etype_names else -1
    etype = np.where((etype == purchase_code) & (amount < 0), refund_code, etype)
    amount = np.where(etype == refund_code, -np.abs(amount), amount)

    id_codes, day, amount = id_codes[keep], day_f[keep].astype(np.int32), amount[keep]
    etype, category, quantity = etype[keep], category[keep], quantity[keep]
    used_ids, customer = np.unique(id_codes, return_inverse=True)
    customer_ids = ids.to_numpy(dtype=object)[used_ids].astype(str).astype(object)

    order = np.argsort(day, kind="stable")
    log = EventLog(
        customer_ids=customer_ids,
        customer=customer[order].astype(np.int32),
        day=day[order],
        amount=amount[order].astype(np.float64),
        etype=etype[order].astype(np.int16),
        event_types=etype_names,
        category=category[order].astype(np.int16),
        categories=cat_names,
        quantity=quantity[order],
        warnings=warnings,
        info={"rows_read": n, "rows_dropped": int(bad.mask.sum()), "date_format": date_fmt, "columns": cols},
    )
    _handle_duplicates(log, duplicates, max_bad_share)
    return log


def _check_bad_rows(
    bad: _BadRows, n: int, max_bad_share: float, source: str, ids, id_codes, warnings
) -> None:
    count = int(bad.mask.sum())
    if count == 0:
        return
    message, first, _ = bad.reasons[0]
    if count == n or count / n > max_bad_share:
        raise EventLogError(
            f"{source}: {message} in row {bad.row(first)}; {count} of {n} rows are bad, "
            f"more than the {max_bad_share:.0%} allowed"
        )
    for message, first, k in bad.reasons:
        warnings.append(f"dropped {k} row(s): {message} (first in row {bad.row(first)})")


def _handle_duplicates(log: EventLog, policy: str, max_share: float) -> None:
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
        for name in ("customer", "day", "amount", "etype", "category", "quantity"):
            setattr(log, name, getattr(log, name)[keep])
        log.warnings.append(f"dropped {what}")
    else:
        log.warnings.append(f"kept {what}: identical purchases on one day are counted as separate events")
