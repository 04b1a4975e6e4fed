"""Result files (CSV and Excel) with spreadsheet-formula injection escaped, ids kept intact.

The CSV is built column by column with pyarrow, by the CLI's writer (ml_pipeline.data.writing),
and is byte for byte what pandas' ``to_csv`` wrote before (floats as Python writes them, text
quoted only where needed), about ten times faster. The Excel file is written from it by services/exports_xlsx.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ml_pipeline.data.writing import csv_blocks, float_texts, patched, quoted

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
        return quoted(escape_texts(text), _NEEDS_QUOTES)
    raise TypeError(f"column {series.name!r} of dtype {series.dtype} has no CSV form here")


def csv_pieces(frame: pd.DataFrame) -> Iterator[bytes | memoryview]:
    """A predictions frame as CSV pieces to write in order: the header line, then blocks of
    "\\n"-ended lines (ml_pipeline.data.writing.csv_blocks). Text is escaped against formulas
    (``escape_text``); together they are the bytes ``to_csv(index=False)`` wrote from the
    escaped frame, built column-wise. Raises TypeError for a column of another dtype."""
    names = pa.array([str(c) for c in frame.columns], type=pa.string())
    yield (",".join(quoted(names, _NEEDS_QUOTES).to_pylist()) + "\n").encode()
    if not frame.empty:  # (rows without columns: the header line alone, as before)
        yield from csv_blocks(frame, [csv_column] * frame.shape[1])


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write a predictions frame to ``path`` as CSV (``csv_pieces``; UTF-8)."""
    with path.open("wb") as out:
        for piece in csv_pieces(frame):
            out.write(piece)
