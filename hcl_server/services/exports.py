"""Result files (CSV and Excel) with spreadsheet-formula injection escaped, ids kept intact."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
EXCEL_MAX_ROWS = 1_048_575  # plus the header row
# A number or a phone number ("-5", "+49 151 12345", "+1 (555) 123-4567"): a spreadsheet may
# compute it, but it cannot call a function or reach outside the sheet, so it is left as it is.
_NUMBER_OR_PHONE = re.compile(r"[+-]?[\d\s().,/-]*\d[\d\s().,/-]*(?:[eE][+-]?\d+)?")


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


def escape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Escape every text column of a predictions frame."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].astype(str).map(escape_text)
    return out


def write_xlsx(csv_path: Path, xlsx_path: Path) -> None:
    """Convert an (escaped) predictions CSV to .xlsx: text as typed text cells holding the text
    as it was sent (a text cell is never run as a formula, so no quote shows), numbers as numbers."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    frame = pd.read_csv(csv_path, dtype={"customer_id": str, "risk_segment": str}, keep_default_na=False)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("predictions")
    ws.append(list(frame.columns))
    text_cols = {
        i
        for i, c in enumerate(frame.columns)
        if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])
    }
    for row in frame.itertuples(index=False, name=None):
        cells = []
        for i, value in enumerate(row):
            if i in text_cols:
                cell = WriteOnlyCell(ws, value=unescape_text(str(value)))
                cell.data_type = "s"  # text, never a formula, whatever it starts with
                cells.append(cell)
            else:
                cells.append(value)
        ws.append(cells)
    tmp = xlsx_path.with_name(f".{xlsx_path.name}.tmp")
    wb.save(tmp)
    tmp.replace(xlsx_path)
