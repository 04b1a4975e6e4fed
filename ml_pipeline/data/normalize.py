"""Normalizing a raw table's columns into per-row arrays, one step per kind of column.

A raw table holds one file's columns as the reader found them (text, or typed when the file was
Parquet or Arrow). Each ``read_*`` step turns one kind of column (customer ids, dates, amounts,
event types, categories, quantities) into a numpy array with a value per row, working on the
distinct values only; rows that are bad in isolation are collected in a :class:`BadRows`, then
:func:`check_bad_rows` drops them or refuses the file. The event vocabulary (type aliases, the
refund sign, category codes) is shared with :func:`ml_pipeline.data.eventlog.from_records`, so
events sent as JSON are coded exactly as the same events in a file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from ml_pipeline.data.arrow_columns import (
    distinct_values,
    is_native_date,
    is_numeric,
    native_days,
    row_locator,
)
from ml_pipeline.data.parsing import parse_amounts, parse_dates
from ml_pipeline.errors import EventLogError

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
_WHITESPACE = re.compile(r"\s+")


def event_type_name(raw: str) -> str:
    """The normalized name of an event type as written: stripped, lower case, inner whitespace as "_".

    An empty value is a purchase, and common synonyms map to ``purchase`` or ``refund``
    ("Order" -> purchase, "chargeback" -> refund, "Add to cart" -> add_to_cart).
    """
    name = _WHITESPACE.sub("_", raw.strip().lower())
    return _TYPE_ALIASES.get(name, name) if name else PURCHASE


def encode_event_types(values: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Distinct raw event types -> (sorted normalized names, int64 code per value into them)."""
    names = [event_type_name(v) for v in values]
    event_types = sorted(set(names))
    index = {name: i for i, name in enumerate(event_types)}
    return event_types, np.fromiter((index[name] for name in names), np.int64, len(names))


def encode_categories(values: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Distinct raw categories -> (sorted stripped non-empty names, int64 code per value, -1 = none)."""
    names = [v.strip() for v in values]
    categories = sorted(set(names) - {""})
    index = {name: i for i, name in enumerate(categories)}
    return categories, np.fromiter((index.get(name, -1) for name in names), np.int64, len(names))


def apply_refund_sign(
    etype: np.ndarray, event_types: list[str], amount: np.ndarray
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """A negative purchase is a refund; refunds are stored negative whatever sign the file used.

    Returns (etype, event_types, amount): ``refund`` is appended to the names when missing, so
    every log has a refund code.
    """
    if REFUND not in event_types:
        event_types = [*event_types, REFUND]
    refund_code = event_types.index(REFUND)
    purchase_code = event_types.index(PURCHASE) if PURCHASE in event_types else -1
    etype = np.where((etype == purchase_code) & (amount < 0), refund_code, etype)
    amount = np.where(etype == refund_code, -np.abs(amount), amount)
    return etype, event_types, amount


class BadRows:
    """Collects rows that are bad in isolation, with the first example of each reason.

    ``row_numbers`` are the rows' numbers in the file when the table is only part of it (a group
    of shards); otherwise table row i is file row i + 2 (the header is row 1).
    """

    def __init__(self, n: int, row_numbers: np.ndarray | None = None):
        self.mask = np.zeros(n, dtype=bool)
        self.reasons: list[tuple[str, int, int]] = []  # (message, first row index, count)
        self.row_numbers = row_numbers

    def row(self, index: int) -> int:
        """Row number as a spreadsheet shows it: the header is row 1."""
        return int(self.row_numbers[index]) if self.row_numbers is not None else index + 2

    def add(self, hit: np.ndarray, message: str) -> None:
        """Mark the rows in ``hit`` (bool per row) bad for ``message``, unless already bad."""
        new = hit & ~self.mask
        if new.any():
            self.reasons.append((message, int(np.argmax(new)), int(new.sum())))
            self.mask |= new

    def locator(self, values: pd.Series, codes: np.ndarray) -> Callable[[object], int]:
        """value -> the file row of its first occurrence, for messages."""
        return row_locator(values, codes, self.row)


def check_bad_rows(bad: BadRows, max_bad_share: float, source: str, warnings: list[str]) -> None:
    """Refuse the table when too many rows are bad; otherwise add a warning per reason.

    Raises EventLogError when every row, or more than ``max_bad_share`` of them, is bad.
    """
    n = len(bad.mask)
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


def read_customer_ids(table: pa.Table, cols: dict[str, str], bad: BadRows) -> tuple[pd.Series, np.ndarray]:
    """(distinct stripped ids, int64 code per row); empty ids are bad rows."""
    ids, codes = distinct_values(table.column(cols["customer_id"]))
    ids = ids.fillna("").str.strip()
    bad.add((ids == "").to_numpy(bool)[codes], f"empty {cols['customer_id']}")
    return ids, codes


def read_days(
    table: pa.Table,
    cols: dict[str, str],
    bad: BadRows,
    *,
    date_format: str | None,
    decided: str | None,
    max_bad_share: float,
) -> tuple[np.ndarray, str]:
    """(days since 1970-01-01 per row as float64, the date format used); unreadable dates are bad rows.

    ``decided`` is the format chosen for the whole file when the table is only part of it.
    Raises EventLogError for an ambiguous or mixed date column (see :func:`parse_dates`).
    """
    col = table.column(cols["event_date"])
    if is_native_date(col):
        days, fmt = native_days(col), "native"
    else:
        values, codes = distinct_values(col)
        parsed = parse_dates(
            values,
            np.bincount(codes, minlength=len(values)),
            column=cols["event_date"],
            date_format=date_format,
            decided=decided,
            max_bad_share=max_bad_share,
            example_row=bad.locator(values, codes),
        )
        days, fmt = parsed.days[codes], parsed.format
    bad.add(np.isnan(days), f"unreadable {cols['event_date']}")
    return days, fmt


def read_amounts(
    table: pa.Table, cols: dict[str, str], bad: BadRows, *, style: str | None, warnings: list[str]
) -> np.ndarray:
    """Amount per row (float64; empty = 0); non-numbers are bad rows, no column means all 0.

    ``style`` is the decimal style ("comma" | "dot") chosen for the whole file, if any.
    """
    if "amount" not in cols:
        warnings.append("no amount column: every amount is 0, spend targets will be 0")
        return np.zeros(table.num_rows)
    col = table.column(cols["amount"])
    if is_numeric(col):
        amount = col.cast(pa.float64()).fill_null(0).to_numpy()
    else:
        values, codes = distinct_values(col)
        amount = parse_amounts(
            values, column=cols["amount"], style=style, example_row=bad.locator(values, codes)
        )[codes]
    bad.add(np.isnan(amount) | np.isinf(amount), f"{cols['amount']} is not a number")
    return amount


def read_event_types(table: pa.Table, cols: dict[str, str]) -> tuple[list[str], np.ndarray]:
    """(sorted event type names, int64 code per row); see :func:`event_type_name`. No column: all purchases."""
    if "event_type" not in cols:
        return [PURCHASE], np.zeros(table.num_rows, dtype=np.int64)
    values, codes = distinct_values(table.column(cols["event_type"]))
    names, type_codes = encode_event_types(values.fillna("").tolist())
    return names, type_codes[codes]


def read_categories(table: pa.Table, cols: dict[str, str]) -> tuple[list[str], np.ndarray]:
    """(sorted category names, int64 code per row, -1 = none)."""
    if "category" not in cols:
        return [], np.full(table.num_rows, -1, dtype=np.int64)
    values, codes = distinct_values(table.column(cols["category"]))
    names, category_codes = encode_categories(values.fillna("").tolist())
    return names, category_codes[codes]


def read_quantities(table: pa.Table, cols: dict[str, str]) -> np.ndarray:
    """Quantity per row (float64, NaN = not given or not a number; a decimal comma is read)."""
    if "quantity" not in cols:
        return np.full(table.num_rows, np.nan)
    col = table.column(cols["quantity"])
    if is_numeric(col):
        return col.cast(pa.float64()).to_numpy(zero_copy_only=False)
    values, codes = distinct_values(col)
    return pd.to_numeric(values.str.replace(",", ".", regex=False), errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan
    )[codes]
