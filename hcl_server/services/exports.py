"""Result files (CSV and Excel) with spreadsheet-formula injection escaped."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
EXCEL_MAX_ROWS = 1_048_575  # plus the header row


def escape_text(value: str) -> str:
    """Prefix a quote to text a spreadsheet would run as a formula (OWASP CSV injection)."""
    return "'" + value if value.startswith(FORMULA_START) else value


def escape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Escape every text column of a predictions frame."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].astype(str).map(escape_text)
    return out


def write_xlsx(csv_path: Path, xlsx_path: Path) -> None:
    """Convert an (already escaped) predictions CSV to .xlsx, writing every text cell as text."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    frame = pd.read_csv(csv_path, dtype={"customer_id": str, "risk_segment": str}, keep_default_na=False)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("predictions")
    ws.append(list(frame.columns))
    text_cols = {i for i, c in enumerate(frame.columns) if frame[c].dtype == object}
    for row in frame.itertuples(index=False, name=None):
        cells = []
        for i, value in enumerate(row):
            if i in text_cols:
                cell = WriteOnlyCell(ws, value=str(value))
                cell.data_type = "s"  # text, never a formula, whatever it starts with
                cells.append(cell)
            else:
                cells.append(value)
        ws.append(cells)
    tmp = xlsx_path.with_name(f".{xlsx_path.name}.tmp")
    wb.save(tmp)
    tmp.replace(xlsx_path)
