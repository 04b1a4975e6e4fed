"""Writing a frame as CSV byte for byte as ``DataFrame.to_csv(index=False)`` does, with pyarrow.

pandas formats and quotes every cell in Python (11.6 s for 1M predictions, issue 16); here each
column becomes text through pyarrow's vectorized kernels and the rows are joined in blocks:

* ``float64``: numpy's shortest round-trip text (``0.1234``, ``1.0``, ``5e-05``; empty for NaN),
  which is what pandas writes. pyarrow's cast gives the same digits for magnitudes in
  [1e-4, 1e9) but without the ``.0`` of a whole number, which is added; a value outside that
  range (rare in predictions) is formatted by numpy itself;
* integers as Python writes them;
* text (``str`` or object columns of str): quoted when it holds a character Python's ``csv``
  module quotes (found by asking it, so a Python that quotes more is followed), quotes doubled;
  a missing value is empty.

A column of any other kind (dates, booleans, categoricals, mixed objects), or a frame of fewer
than two columns (``csv`` quotes a lone empty field), is written by pandas itself, so the output
never differs; tests/unit/test_writing.py compares the two.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

BLOCK_ROWS = 100_000  # rows turned into text at a time: one block's text is all that is held
# |x| for which pyarrow's float text has numpy's digits, in positional notation.
_ARROW_FLOAT_RANGE = (1e-4, 1e9)
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


_NEEDS_QUOTES = "[" + re.escape(_quoted_characters()) + "]"


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
        for start in range(0, len(frame), block_rows):
            block = frame.iloc[start : start + block_rows]
            cells = [_TO_TEXT[kind](block.iloc[:, j]) for j, kind in enumerate(kinds)]
            out.write(_lines(cells))


def _lines(cells: list[pa.Array]) -> memoryview:
    """The rows' bytes: each row's cells joined by commas, ended by a line break."""
    joined = pc.binary_join_element_wise(*cells, _scalar(","))
    lines = pc.binary_join_element_wise(joined, _scalar("\n"), _scalar(""))
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)
    start, end = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    return memoryview(lines.buffers()[2])[start:end]


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


def _float_text(col: pd.Series) -> pa.Array:
    values = col.to_numpy(dtype=np.float64)
    text = pc.cast(pa.array(values), _TEXT)
    size = np.abs(values)
    lo, hi = _ARROW_FLOAT_RANGE
    with np.errstate(invalid="ignore"):
        arrow = (size == 0) | ((size >= lo) & (size < hi))
    whole = arrow & (values == np.trunc(values))
    if whole.any():
        text = pc.if_else(whole, pc.binary_join_element_wise(text, _scalar(".0"), _scalar("")), text)
    other = ~arrow
    if other.any():
        # NaN is written empty (pandas' na_rep); inf, tiny and huge values as numpy writes them.
        replaced = values[other].astype(str)
        replaced[np.isnan(values[other])] = ""
        text = pc.replace_with_mask(text, pa.array(other), pa.array(replaced.tolist(), _TEXT))
    return text


def _int_text(col: pd.Series) -> pa.Array:
    return pc.cast(pa.array(col.to_numpy()), _TEXT)


def _text(col: pd.Series) -> pa.Array:
    values = col.to_numpy(dtype=object, na_value=None) if isinstance(col.dtype, np.dtype) else col
    text = pc.fill_null(pa.array(values, type=_TEXT, from_pandas=True), "")
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    needs = pc.match_substring_regex(text, _NEEDS_QUOTES)
    if pc.any(needs).as_py():
        doubled = pc.replace_substring(text, '"', '""')
        quoted = pc.binary_join_element_wise(_scalar('"'), doubled, _scalar('"'), _scalar(""))
        text = pc.if_else(needs, quoted, text)
    return text


_TO_TEXT = {"float": _float_text, "int": _int_text, "text": _text}
