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
import pyarrow.compute as pc

from ml_pipeline.data.arrow_columns import (
    distinct_values,
    is_native_date,
    is_numeric,
    native_days,
    row_locator,
)
from ml_pipeline.data.columns import UNIT_PRICE_HEADERS, normalize_header
from ml_pipeline.data.parsing import parse_amounts, parse_dates
from ml_pipeline.errors import EventLogError

PURCHASE, REFUND = "purchase", "refund"
# The name kept for a shop order whose status says it was refunded: no spend (it nets to zero).
REFUNDED_ORDER = "refunded_order"
# Event-type words of shops, payment processors and order exports -> purchase or refund. Other
# values (cancelled, failed, pending, page_view, ...) are kept under their own name as events that
# add no spend.
_TYPE_ALIASES = {
    **dict.fromkeys(
        (
            "order",
            "sale",
            "transaction",
            "buy",
            "purchased",
            "invoice",
            "charge",
            "payment",
            "paid",
            "captured",
            "succeeded",
            "success",
            "settled",
            "completed",
            "complete",
            "processing",
            "shipped",
            "delivered",
            "fulfilled",
            "partially_refunded",
            "partially_paid",
            "website_payment",
            "express_checkout_payment",
            "mobile_payment",
            "payment_received",
            # German, French, Spanish exports (PayPal and shop systems write them translated)
            "zahlung",
            "website-zahlung",
            "zahlung_erhalten",
            "kauf",
            "bestellung",
            "verkauf",
            "paiement",
            "achat",
            "vente",
            "pago",
            "compra",
            "venta",
        ),
        PURCHASE,
    ),
    **dict.fromkeys(
        (
            "return",
            "refunded",
            "chargeback",
            "returned",
            "refund",
            "payment_refund",
            "payment_reversal",
            "dispute_lost",
            "rückzahlung",
            "erstattung",
            "rückerstattung",
            "retoure",
            "remboursement",
            "reembolso",
            "devolución",
            "devolucion",
        ),
        REFUND,
    ),
    "canceled": "cancelled",
}
# Words that only an order's status uses: in a column holding them, "refunded" is an order that
# was refunded (no spend), not a refund event of its own.
_STATUS_WORDS = frozenset(
    (
        "completed",
        "complete",
        "processing",
        "pending",
        "pending_payment",
        "on_hold",
        "on-hold",
        "shipped",
        "delivered",
        "fulfilled",
        "paid",
        "cancelled",
        "canceled",
        "partially_refunded",
    )
)
_WHITESPACE = re.compile(r"\s+")


def event_type_key(raw: str) -> str:
    """An event type as written, stripped, lower case, inner whitespace as "_" ("Add to cart" ->
    "add_to_cart"); the key user mappings are matched on."""
    return _WHITESPACE.sub("_", raw.strip().lower())


def is_status_vocabulary(keys: Sequence[str]) -> bool:
    """Whether event-type keys (see :func:`event_type_key`) are an order-status column's."""
    return any(k in _STATUS_WORDS for k in keys)


def event_type_name(raw: str, statuses: bool = False, mapping: dict[str, str] | None = None) -> str:
    """The normalized name of an event type as written.

    An empty value is a purchase; common synonyms map to ``purchase`` or ``refund`` ("Order",
    "charge", "completed" -> purchase, "chargeback" -> refund); in an order-status column
    (``statuses``) "refunded" is ``refunded_order``. ``mapping`` ({key: role}, keys as
    :func:`event_type_key`) is the user's word and wins: role purchase or refund, ``other`` keeps
    the name, ``ignore`` gives "" (rows to leave out).
    """
    name = event_type_key(raw)
    if mapping and name in mapping:
        role = mapping[name]
        return {"purchase": PURCHASE, "refund": REFUND, "ignore": ""}.get(role, name or PURCHASE)
    if not name:
        return PURCHASE
    if statuses and name == "refunded":
        return REFUNDED_ORDER
    return _TYPE_ALIASES.get(name, name)


def encode_event_types(
    values: Sequence[str], statuses: bool = False, mapping: dict[str, str] | None = None
) -> tuple[list[str], np.ndarray]:
    """Distinct raw event types -> (sorted normalized names, int64 code per value into them).

    Arguments as for :func:`event_type_name`; a value mapped to ``ignore`` gets code -1.
    """
    names = [event_type_name(v, statuses, mapping) for v in values]
    event_types = sorted(set(names) - {""})
    index = {name: i for i, name in enumerate(event_types)}
    return event_types, np.fromiter((index.get(name, -1) for name in names), np.int64, len(names))


def encode_categories(values: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Distinct raw categories -> (sorted stripped non-empty names, int64 code per value, -1 = none)."""
    names = [v.strip() for v in values]
    categories = sorted(set(names) - {""})
    index = {name: i for i, name in enumerate(categories)}
    return categories, np.fromiter((index.get(name, -1) for name in names), np.int64, len(names))


def apply_refund_sign(
    etype: np.ndarray, event_types: list[str], amount: np.ndarray, cancelled: np.ndarray | None = None
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """A negative purchase is a refund, and so is a purchase row of a cancellation invoice
    (``cancelled``, bool per row); refunds are stored negative whatever sign the file used.

    Returns (etype, event_types, amount): ``refund`` is appended to the names when missing, so
    every log has a refund code.
    """
    if REFUND not in event_types:
        event_types = [*event_types, REFUND]
    refund_code = event_types.index(REFUND)
    purchase_code = event_types.index(PURCHASE) if PURCHASE in event_types else -1
    to_refund = (etype == purchase_code) & (amount < 0)
    if cancelled is not None:
        to_refund |= (etype == purchase_code) & cancelled
    etype = np.where(to_refund, refund_code, etype)
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
        # Rows left out on purpose (blank lines, repeated headers, ignored event types): not bad,
        # and not counted against the bad-row share.
        self.skipped = np.zeros(n, dtype=bool)
        self.skip_notes: list[tuple[str, int, int]] = []

    def row(self, index: int) -> int:
        """Row number as a spreadsheet shows it: the header is row 1."""
        return int(self.row_numbers[index]) if self.row_numbers is not None else index + 2

    def add(self, hit: np.ndarray, message: str) -> None:
        """Mark the rows in ``hit`` (bool per row) bad for ``message``, unless already bad."""
        new = hit & ~self.mask & ~self.skipped
        if new.any():
            self.reasons.append((message, int(np.argmax(new)), int(new.sum())))
            self.mask |= new

    def skip(self, hit: np.ndarray, message: str) -> None:
        """Leave out the rows in ``hit`` (bool per row) with a note, unless already left out."""
        new = hit & ~self.skipped & ~self.mask
        if new.any():
            self.skip_notes.append((message, int(np.argmax(new)), int(new.sum())))
            self.skipped |= new

    @property
    def dropped(self) -> np.ndarray:
        """Rows that do not become events: bad or left out."""
        return self.mask | self.skipped

    def locator(self, values: pd.Series, codes: np.ndarray) -> Callable[[object], int]:
        """value -> the file row of its first occurrence, for messages."""
        return row_locator(values, codes, self.row)


def check_bad_rows(bad: BadRows, max_bad_share: float, source: str, warnings: list[str]) -> None:
    """Refuse the table when too many rows are bad; otherwise add a warning per reason.

    Raises EventLogError when every row, or more than ``max_bad_share`` of them, is bad.
    """
    for message, first, k in bad.skip_notes:
        warnings.append(f"left out {k} row(s): {message} (first in row {bad.row(first)})")
    n = int((~bad.skipped).sum())
    count = int(bad.mask.sum())
    if n == 0:
        raise EventLogError(f"{source}: the file has no data rows (every row was left out)")
    if count == 0:
        return
    message, first, _ = bad.reasons[0]
    if count == n or count / n > max_bad_share:
        way = f"; pass --max-bad-rows {min(1.0, _round_up(count / n)):g} to drop them" if count < n else ""
        raise EventLogError(
            f"{source}: {message} in row {bad.row(first)}; {count} of {n} rows are bad, "
            f"more than the {max_bad_share:.0%} allowed{way}"
        )
    for message, first, k in bad.reasons:
        warnings.append(f"dropped {k} row(s): {message} (first in row {bad.row(first)})")


def _round_up(share: float) -> float:
    """A share rounded up to two significant digits, so passing it lets the rows through."""
    digits = 1 - int(np.floor(np.log10(share)))
    return float(np.ceil(share * 10**digits) / 10**digits)


def skip_blank_and_header_rows(
    table: pa.Table, cols: dict[str, str], bad: BadRows, ids: tuple[pd.Series, np.ndarray] | None = None
) -> None:
    """Leave out rows whose fields are all empty (spreadsheet leftovers such as ``,,``) and rows
    that repeat the header (exports appended one after another), with a note each.

    Only rows with an empty or header-valued customer id are looked at, found among the distinct
    ids (``ids``: :func:`distinct_values` of the id column, when already computed), so the cost is
    that of the few such rows, not of the file.
    """
    values, codes = ids if ids is not None else distinct_values(id_text(table.column(cols["customer_id"])))
    text = values.fillna("").str.strip()
    suspect = ((text == "") | (text.str.lower() == cols["customer_id"].lower())).to_numpy(bool)
    if not suspect.any():
        return
    index = np.flatnonzero(suspect[codes])
    rows = table.take(pa.array(index))
    blank = np.ones(len(rows), dtype=bool)
    repeat = np.ones(len(rows), dtype=bool)
    for name in rows.column_names:
        cells = pc.utf8_trim_whitespace(rows.column(name).cast(pa.string())).fill_null("")
        blank &= pc.equal(cells, "").to_numpy(zero_copy_only=False)
        repeat &= pc.equal(pc.utf8_lower(cells), name.lower()).to_numpy(zero_copy_only=False)
    for hit, message in ((blank, "every field is empty"), (repeat, "the row repeats the header")):
        if hit.any():
            mask = np.zeros(table.num_rows, dtype=bool)
            mask[index[hit]] = True
            bad.skip(mask, message)


# Stored predictions keep the id in a 200-character column; a longer "id" is not one (a pasted
# text, a broken export) and would fail the whole job where it is stored.
MAX_ID_CHARS = 200


def read_customer_ids(
    ids: tuple[pd.Series, np.ndarray], cols: dict[str, str], bad: BadRows, notes: dict
) -> tuple[pd.Series, np.ndarray]:
    """(distinct stripped ids, int64 code per row) from ``ids`` (the id column's
    :func:`distinct_values`, of :func:`id_text`); empty ids are bad rows.

    An id written as a whole number with a ".0" tail (``12046.0``, as spreadsheets and pandas
    write numeric ids) is the same customer as ``12046``; leading zeros and text ids are kept as
    written. A floating-point column (Parquet) gives its whole numbers without the tail too.
    """
    ids, codes = ids
    ids = ids.fillna("").str.strip()
    # A NUL character is not text a database stores, and numpy's string type drops a trailing one
    # ("a\x00" would become customer "a"): such an id is a bad row, before ids are merged.
    has_nul = ids.str.contains("\x00", regex=False).to_numpy(bool)
    if has_nul.any():
        bad.add(has_nul[codes], f"{cols['customer_id']} with a NUL character")
        ids = ids.where(~has_nul, "")
    canonical = canonical_ids(ids)
    changed = (canonical != ids).to_numpy(bool)
    if changed.any():
        notes["customer_ids"] = (
            f"{int(changed[codes].sum())} id(s) written with a .0 tail (e.g. {ids[changed].iloc[0]}) "
            f"read as whole numbers ({canonical[changed].iloc[0]})"
        )
        uniq, inverse = np.unique(canonical.to_numpy(dtype=object).astype(str), return_inverse=True)
        ids, codes = pd.Series(uniq, dtype="string"), inverse[codes]
    bad.add((ids == "").to_numpy(bool)[codes], f"empty {cols['customer_id']}")
    too_long = (ids.str.len() > MAX_ID_CHARS).to_numpy(bool)
    if too_long.any():
        bad.add(too_long[codes], f"{cols['customer_id']} longer than {MAX_ID_CHARS} characters")
    return ids, codes


def id_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Customer ids as text; a floating-point column (Parquet) gives its whole numbers as
    integers (12046, not 12046.0 or 1.2046e+04)."""
    if not pa.types.is_floating(col.type):
        return col.cast(pa.string())
    whole = pc.equal(col, pc.floor(col))
    return pc.if_else(whole, pc.cast(col, pa.int64(), safe=False).cast(pa.string()), col.cast(pa.string()))


_WHOLE_WITH_TAIL = r"^(\d+)\.0+$"


def canonical_ids(ids: pd.Series) -> pd.Series:
    """Ids with a whole number's ".0" tail removed (``12046.0`` -> ``12046``); others unchanged."""
    return ids.str.replace(_WHOLE_WITH_TAIL, r"\1", regex=True)


def read_days(
    table: pa.Table,
    cols: dict[str, str],
    bad: BadRows,
    *,
    date_format: str | None,
    decided: str | None,
    max_bad_share: float,
    warnings: list[str],
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
        warnings.extend(parsed.notes)
    bad.add(np.isnan(days), f"unreadable {cols['event_date']}")
    return days, fmt


def read_amounts(
    table: pa.Table,
    cols: dict[str, str],
    bad: BadRows,
    *,
    style: str | None,
    warnings: list[str],
    notes: dict,
) -> np.ndarray:
    """Amount per row (float64; empty = 0); non-numbers are bad rows, no column means all 0.

    ``style`` is the decimal style ("comma" | "dot") chosen for the whole file, if any.
    """
    if "amount" not in cols:
        warnings.append(
            "no amount column: every amount is 0, spend targets will be 0; "
            "map one with --column amount=HEADER"
        )
        return np.zeros(table.num_rows)
    col = table.column(cols["amount"])
    if is_numeric(col):
        amount = col.cast(pa.float64()).fill_null(0).to_numpy()
    else:
        values, codes = distinct_values(col)
        parsed, style = parse_amounts(
            values, column=cols["amount"], style=style, example_row=bad.locator(values, codes)
        )
        amount = parsed[codes]
        if style == "comma":
            notes["decimal"] = "comma (1.234,56; a dot groups thousands)"
    bad.add(np.isnan(amount) | np.isinf(amount), f"{cols['amount']} is not a number")
    return amount


def read_event_types(
    table: pa.Table,
    cols: dict[str, str],
    bad: BadRows,
    *,
    mapping: dict[str, str] | None,
    statuses: bool | None,
    notes: dict,
) -> tuple[list[str], np.ndarray]:
    """(sorted event type names, int64 code per row); see :func:`event_type_name`. No column: all
    purchases.

    ``mapping`` is the user's {value: role}; rows of a value mapped to ``ignore`` are left out.
    ``statuses`` says whether the column holds order statuses (decided for the whole file when
    the table is only part of it; None: decide from these values).
    """
    if "event_type" not in cols:
        return [PURCHASE], np.zeros(table.num_rows, dtype=np.int64)
    values, codes = distinct_values(table.column(cols["event_type"]))
    raw = values.fillna("").tolist()
    if statuses is None:
        statuses = is_status_vocabulary([event_type_key(v) for v in raw])
    keys = {event_type_key(k): role for k, role in (mapping or {}).items()}
    names, type_codes = encode_event_types(raw, statuses, keys)
    row_codes = type_codes[codes]
    ignored = row_codes < 0
    if ignored.any():
        which = sorted({event_type_key(v) for v, c in zip(raw, type_codes) if c < 0})
        bad.skip(ignored, f"event type {', '.join(which)} (ignore)")
    notes["event_types"] = _event_type_reading(raw, names, type_codes, np.bincount(codes, minlength=len(raw)))
    if statuses:
        notes["event_types_column"] = "order statuses: a refunded order adds no spend"
    return names, np.where(ignored, 0, row_codes)


def _event_type_reading(raw: list[str], names: list[str], codes: np.ndarray, counts: np.ndarray) -> dict:
    """{value as written: what it was read as} for the most common values (up to 20)."""
    out: dict[str, str] = {}
    for i in np.argsort(-counts, kind="stable")[:20]:
        out[raw[i] or "(empty)"] = names[codes[i]] if codes[i] >= 0 else "ignored"
    return out


def read_cancellations(table: pa.Table, cols: dict[str, str], prefixed: bool | None) -> np.ndarray | None:
    """Rows whose order or invoice number marks a cancellation (``C489500`` beside numeric
    invoice numbers, as in line-item exports), or None when the file has no such marks.

    ``prefixed`` is the decision for the whole file when the table is only part of it.
    """
    if "order_id" not in cols or prefixed is False:
        return None
    values, codes = distinct_values(table.column(cols["order_id"]))
    cancel, numeric = cancellation_marks(values)
    if prefixed is None and not (cancel.any() and numeric):
        return None
    return cancel[codes] if cancel.any() else None


def cancellation_marks(values: pd.Series) -> tuple[np.ndarray, bool]:
    """(bool per distinct order number: written ``C`` + digits, whether any is plain digits):
    the marks are cancellations only in a file that has both."""
    s = values.fillna("").str.strip()
    return s.str.fullmatch(r"[Cc]\d+").to_numpy(bool), bool(s.str.fullmatch(r"\d+").any())


def line_item_amounts(
    amount: np.ndarray,
    quantity: np.ndarray,
    cols: dict[str, str],
    bad: BadRows,
    amount_is: str | None,
    notes: dict,
) -> np.ndarray:
    """The row's amount: the amount as written, or quantity x unit price when the amount column
    is a unit price (``amount_is`` = "unit_price", or by default a price-named column such as
    ``Price`` or ``UnitPrice`` next to a quantity). A row without a usable quantity is then bad.
    """
    if "amount" not in cols:
        return amount
    named_price = normalize_header(cols["amount"]) in UNIT_PRICE_HEADERS
    if amount_is == "total" or "quantity" not in cols or (amount_is is None and not named_price):
        if "quantity" in cols and named_price:
            notes["amount"] = (
                f"{cols['amount']} as written, the row's total (pass --amount-is unit_price if it "
                "is a price per unit)"
            )
        return amount
    bad.add(~np.isfinite(quantity), f"{cols['quantity']} is not a number (the amount is a unit price)")
    notes["amount"] = (
        f"{cols['quantity']} x {cols['amount']} (a unit price; pass --amount-is total if "
        f"{cols['amount']} is the line's total)"
    )
    return np.where(np.isfinite(quantity), amount * quantity, amount)


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
