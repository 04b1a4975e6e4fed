"""Writing a frame as CSV byte for byte as ``DataFrame.to_csv(index=False)`` does, with pyarrow.

pandas formats and quotes every cell in Python (11.6 s for 1M predictions, issue 16); here each
column becomes text through pyarrow's vectorized kernels and the rows are joined in blocks:

* ``float64``: the shortest round-trip text, as Python's ``repr`` and pandas write it
  (``0.1234``, ``1.0``, ``5e-05``; empty for NaN), :func:`float_texts`;
* integers as Python writes them;
* text (``str`` or object columns of str): quoted when it holds a character Python's ``csv``
  module quotes (found by asking it, so a Python that quotes more is followed), quotes doubled;
  a missing value is empty.

A column of any other kind (dates, booleans, categoricals, mixed objects), or a frame of fewer
than two columns (``csv`` quotes a lone empty field), is written by pandas itself, so the output
never differs; tests/unit/test_writing.py compares the two.

The service's result files (hcl_server/services/exports.py) are built from the same pieces
(:func:`csv_blocks`, :func:`float_texts`, :func:`quoted`), with their text escaped against
spreadsheet formulas.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

BLOCK_ROWS = 100_000  # rows turned into text at a time: one block's text is all that is held
_TEXT = pa.large_string()  # 64-bit offsets: a block's text may pass 2 GB


def _quoted_characters() -> str:
    """The characters among those an exported text may hold that make Python's csv module, as
    pandas calls it, quote a field."""
    out = []
    for ch in [",", '"', "\n", "\r", "\t", " ", ";", "'", "\x00", "\x0b", "\x0c", "\x1c", "\x85", "\u2028"]:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow([f"a{ch}b", "c"])
        if buf.getvalue().startswith('"'):
            out.append(ch)
    return "".join(out)


NEEDS_QUOTES = "[" + re.escape(_quoted_characters()) + "]"


def float_texts(values: np.ndarray) -> pa.Array:
    """Each float as Python writes it (``repr``: "12.0", "0.1235", "1e-05", "inf"), NaN as null;
    shape (n,) in, a string array of n out. pandas' ``to_csv`` writes the same text (numpy's
    shortest round-trip digits follow ``repr``'s rules).

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


def patched(values: pa.Array, rows: np.ndarray, texts: list[str]) -> pa.Array:
    """``values`` (strings) with the values at ``rows`` (ascending indices) replaced by ``texts``;
    the rest are not turned into Python objects."""
    mask = np.zeros(len(values), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(values, pa.array(mask), pa.array(texts, type=values.type))


def int_texts(values: np.ndarray) -> pa.Array:
    """Integers as Python writes them; shape (n,) in, a string array of n out."""
    return pc.cast(pa.array(values), pa.string())


def quoted(values: pa.Array, needs_quotes: str = NEEDS_QUOTES) -> pa.Array:
    """Text as CSV fields: in double quotes, inner quotes doubled, where the value matches the
    regular expression ``needs_quotes`` (by default the characters Python's csv module quotes);
    nulls stay null."""
    needs = pc.fill_null(pc.match_substring_regex(values, needs_quotes), False)
    if not pc.any(needs).as_py():
        return values
    mark, none = pa.scalar('"', values.type), pa.scalar("", values.type)
    wrapped = pc.binary_join_element_wise(mark, pc.replace_substring(values, '"', '""'), mark, none)
    return pc.if_else(needs, wrapped, values)


def csv_lines(cells: list[pa.Array]) -> memoryview:
    """The rows' bytes: each row's fields (one string array per column, nulls written empty)
    joined by commas and ended by a line break."""
    cells = [c.cast(_TEXT) for c in cells]
    joined = pc.binary_join_element_wise(*cells, _scalar(","), null_handling="replace", null_replacement="")
    lines = pc.binary_join_element_wise(joined, _scalar("\n"), _scalar(""))
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)
    start, end = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    return memoryview(lines.buffers()[2])[start:end]


def csv_blocks(
    frame: pd.DataFrame, fields: list[Callable[[pd.Series], pa.Array]], block_rows: int = BLOCK_ROWS
) -> Iterator[memoryview]:
    """``frame``'s rows as CSV bytes, ``block_rows`` rows at a time (so only one block's text is
    held): ``fields[j]`` turns a block of column j into its fields (:func:`csv_lines`)."""
    for start in range(0, len(frame), block_rows):
        block = frame.iloc[start : start + block_rows]
        yield csv_lines([field(block.iloc[:, j]) for j, field in enumerate(fields)])


def write_frame_csv(frame: pd.DataFrame, path: str | Path, block_rows: int = BLOCK_ROWS) -> None:
    """Write ``frame`` to ``path`` (UTF-8) exactly as ``frame.to_csv(path, index=False)`` would,
    ``block_rows`` rows at a time.

    Raises what pandas raises for a frame it cannot write (e.g. text that is not valid Unicode).
    """
    kinds = _kinds(frame)
    if kinds is None:
        frame.to_csv(path, index=False, encoding="utf-8")
        return
    with open(path, "wb") as out:
        out.write(_header(frame).encode("utf-8"))
        for lines in csv_blocks(frame, [_TO_TEXT[kind] for kind in kinds], block_rows):
            out.write(lines)


def _scalar(text: str) -> pa.Scalar:
    return pa.scalar(text, _TEXT)


def _header(frame: pd.DataFrame) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([str(c) for c in frame.columns])
    return buf.getvalue()


def _kinds(frame: pd.DataFrame) -> list[str] | None:
    """Each column's kind ("float", "int", "text"), or None when one is of another kind."""
    if frame.shape[1] < 2 or not frame.columns.is_unique:
        return None
    kinds = [_kind(frame.iloc[:, j]) for j in range(frame.shape[1])]
    return None if None in kinds else kinds


def _kind(col: pd.Series) -> str | None:
    dtype = col.dtype
    if isinstance(dtype, np.dtype):
        if dtype == np.float64:
            return "float"
        if dtype.kind in "iu":
            return "int"
        if dtype.kind == "O" and all(type(v) is str for v in col[col.notna()].tolist()):
            return "text"
        return None
    if isinstance(dtype, pd.StringDtype):
        return "text"
    return None


def _text(col: pd.Series) -> pa.Array:
    values = col.to_numpy(dtype=object, na_value=None) if isinstance(col.dtype, np.dtype) else col
    text = pa.array(values, type=_TEXT, from_pandas=True)
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    return quoted(text)


_TO_TEXT = {
    "float": lambda col: float_texts(col.to_numpy(dtype=np.float64)),
    "int": lambda col: int_texts(col.to_numpy()),
    "text": _text,
}
