"""Result files (CSV and Excel) with spreadsheet-formula injection escaped, ids kept intact.

The CSV is built column by column with pyarrow and is byte for byte what pandas' ``to_csv``
wrote before (floats as Python writes them, text quoted only where needed), about ten times
faster. The Excel file is written from it by services/exports_xlsx.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
EXCEL_MAX_ROWS = 1_048_575  # plus the header row
# A number or a phone number ("-5", "+49 151 12345", "+1 (555) 123-4567"): a spreadsheet may
# compute it, but it cannot call a function or reach outside the sheet, so it is left as it is.
_NUMBER_OR_PHONE = re.compile(r"[+-]?[\d\s().,/-]*\d[\d\s().,/-]*(?:[eE][+-]?\d+)?")
# Only text starting with one of these can need a quote (see _needs_escape).
_MAY_NEED_ESCAPE = "^[=+\\-@\t\r']"
# Python's csv writer (pandas' to_csv) quotes a field holding the delimiter, the quote character
# or "\n"; a "\r" too here, which it left bare, so that readers (pandas, pyarrow) saw a line
# break in the middle of the field.
_NEEDS_QUOTES = '[,"\n\r]'


def _needs_escape(value: str) -> bool:
    if value.startswith(("=", "@", "\t", "\r")):
        return True
    if value.startswith(("+", "-")):
        return _NUMBER_OR_PHONE.fullmatch(value) is None
    # A value that already starts with the quote we add is quoted once more, so unescape_text
    # gives back exactly what was sent.
    return value.startswith("'") and (_needs_escape(value[1:]) or value[1:].startswith("'"))


def escape_text(value: str) -> str:
    """Prefix a quote to text a spreadsheet would run as a formula (OWASP CSV injection):
    ``=HYPERLINK(...)``, ``@SUM(...)``, ``-2+3+cmd|...``. A plain number or a phone number
    (``-5``, ``+4915112345``) is left as it is, so results join back to the ids sent."""
    return "'" + value if _needs_escape(value) else value


def unescape_text(value: str) -> str:
    """The text ``escape_text`` was given (the .xlsx holds typed text cells, no quote needed)."""
    return value[1:] if value.startswith("'") and _needs_escape(value[1:]) else value


def escape_texts(values: pa.Array) -> pa.Array:
    """``escape_text`` of every value of a string array (nulls stay null).

    Only values starting with a character that may need the quote go through Python; the rest
    (nearly always all of them) are kept as they are.
    """
    suspect = pc.fill_null(pc.match_substring_regex(values, _MAY_NEED_ESCAPE), False)
    rows = np.flatnonzero(suspect.to_numpy(zero_copy_only=False))
    if not len(rows):
        return values
    return patched(values, rows, [escape_text(values[int(i)].as_py()) for i in rows])


def patched(values: pa.Array, rows: np.ndarray, texts: list[str]) -> pa.Array:
    """``values`` (strings) with the values at ``rows`` (ascending indices) replaced by ``texts``;
    the rest are not turned into Python objects."""
    mask = np.zeros(len(values), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(values, pa.array(mask), pa.array(texts, type=pa.string()))


def float_texts(values: np.ndarray) -> pa.Array:
    """Each float as Python writes it (``repr``: "12.0", "0.1235", "1e-05", "inf"), NaN as null;
    shape (n,) in, a string array of n out.

    pyarrow's cast gives the same shortest digits as ``repr``; it only writes whole numbers
    without ".0", and switches to an exponent at other places (below 1e-4, from 1e16, and at 17
    significant digits), so those few values are written by ``repr`` itself.
    """
    v = np.asarray(values, dtype=np.float64)
    text = pc.cast(pa.array(v, from_pandas=True), pa.string())
    if not len(v):
        return text
    plain = pc.invert(pc.fill_null(pc.match_substring(text, "e"), True)).to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        magnitude = np.abs(v)
        plain &= ((magnitude >= 1e-4) & (magnitude < 1e16)) | (v == 0)
    text = pc.if_else(
        pc.fill_null(pc.match_substring(text, "."), True),
        text,
        pc.binary_join_element_wise(text, ".0", ""),
    )
    redo = np.flatnonzero(~plain & ~np.isnan(v))
    if not len(redo):
        return text
    return patched(text, redo, [repr(x) for x in v[redo].tolist()])


def _quoted(values: pa.Array) -> pa.Array:
    """Text as a CSV field: in double quotes (inner quotes doubled) where it needs them."""
    needs = pc.fill_null(pc.match_substring_regex(values, _NEEDS_QUOTES), False)
    if not pc.any(needs).as_py():
        return values
    wrapped = pc.binary_join_element_wise('"', pc.replace_substring(values, '"', '""'), '"', "")
    return pc.if_else(needs, wrapped, values)


def csv_column(series: pd.Series) -> pa.Array:
    """One column of a predictions frame as CSV fields: floats as ``repr``, integers as digits,
    text escaped (``escape_text``) and quoted where needed; missing values as nulls (empty
    fields). Raises TypeError for another dtype."""
    if pd.api.types.is_float_dtype(series):
        return float_texts(series.to_numpy(dtype=np.float64, na_value=np.nan))
    if pd.api.types.is_integer_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return pc.cast(pa.array(series, from_pandas=True), pa.string())
    if series.dtype == object or pd.api.types.is_string_dtype(series):
        text = pa.array(series.astype(str), type=pa.string(), from_pandas=True)
        return _quoted(escape_texts(text))
    raise TypeError(f"column {series.name!r} of dtype {series.dtype} has no CSV form here")


CSV_BLOCK_ROWS = 100_000  # lines joined into one buffer at a time (bounds memory, int32 offsets)


def csv_pieces(frame: pd.DataFrame) -> list[bytes | pa.Buffer]:
    """A predictions frame as CSV pieces to write in order: the header line, then blocks of
    "\\n"-ended lines. Text is escaped against formulas (``escape_text``); together they are
    the bytes ``to_csv(index=False)`` wrote from the escaped frame, built column-wise."""
    names = pa.array([str(c) for c in frame.columns], type=pa.string())
    pieces: list[bytes | pa.Buffer] = [(",".join(_quoted(names).to_pylist()) + "\n").encode()]
    if frame.empty:
        return pieces
    fields = [csv_column(frame[c]) for c in frame.columns]
    # The newline is joined onto the last field (an empty one for a null), then every field.
    fields[-1] = pc.binary_join_element_wise(pc.fill_null(fields[-1], ""), "", "\n")
    lines = pc.binary_join_element_wise(*fields, ",", null_handling="replace", null_replacement="")
    for start in range(0, len(lines), CSV_BLOCK_ROWS):
        block = lines.slice(start, CSV_BLOCK_ROWS)
        offsets = pa.array([0, len(block)], pa.int32())
        pieces.append(pc.binary_join(pa.ListArray.from_arrays(offsets, block), "")[0].as_buffer())
    return pieces


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write a predictions frame to ``path`` as CSV (``csv_pieces``; UTF-8)."""
    with path.open("wb") as out:
        for piece in csv_pieces(frame):
            out.write(piece)
