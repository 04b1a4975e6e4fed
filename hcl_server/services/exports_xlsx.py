"""The Excel download of a bulk job's predictions, streamed from its CSV.

XlsxWriter (constant-memory mode) writes the workbook: every part of the package, the sheet and
its header row. The data rows are then written into the sheet as XlsxWriter writes them in that
mode (an inline-string or number cell per value, ``<row r="N">`` per row), built a column at a
time with pyarrow: XlsxWriter's own per-cell loop costs about 10 µs a cell here, two to three
minutes for a million rows of 11 columns, where this takes seconds (docs/benchmarks.md).
Numbers are written as Python writes them (``repr``: the CSV's exact value); XlsxWriter's
``%.16G`` could drop a 17th digit.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from hcl_server.services.exports import unescape_text
from ml_pipeline.data.writing import float_texts, patched

TEXT_COLUMNS = ("customer_id", "risk_segment", "reasons")  # every other column holds numbers
XLSX_BLOCK_ROWS = 50_000  # rows of sheet XML built and compressed at a time
SHEET = "xl/worksheets/sheet1.xml"
EXCEL_MAX_TEXT = 32_767  # UTF-16 units in a cell; XlsxWriter cuts a longer text there
# Text that XlsxWriter writes otherwise than plainly: leading or trailing space (xml:space), a
# control character or an "_xHHHH_" (escaped as _xHHHH_), or past EXCEL_MAX_TEXT. A superset
# (any non-ASCII first or last character, over half the limit in characters) goes through Python.
_SPECIAL_TEXT = "^[^!-~]|[^!-~]$|[\\x00-\\x08\\x0b-\\x1f]|_x[0-9a-fA-F]{4}_"
_CONTROL = re.compile(r"([\x00-\x08\x0b-\x1f])")
_ESCAPE_LIKE = re.compile(r"(_x[0-9a-fA-F]{4}_)")


def write_xlsx(csv_path: Path, xlsx_path: Path) -> None:
    """Convert an (escaped) predictions CSV to .xlsx: text as typed text cells holding the text
    as it was sent (``unescape_text``: a text cell is never run as a formula, so no quote
    shows), numbers as numbers, an empty number as an empty cell.

    The sheet is streamed into the zip a block of rows at a time: memory holds the CSV's columns,
    not a million cell objects. Written to a temporary name and renamed, so ``xlsx_path`` is
    whole or absent. Raises OSError, or pyarrow's error for a file that is not such a CSV.
    """
    table = _read_results(csv_path)
    tmp = xlsx_path.with_name(f".{xlsx_path.name}.tmp")
    skeleton = xlsx_path.with_name(f".{xlsx_path.name}.header")
    try:
        _write_header_book(table.column_names, skeleton)
        _fill(skeleton, tmp, table)
    finally:
        skeleton.unlink(missing_ok=True)
    tmp.replace(xlsx_path)


def _read_results(csv_path: Path) -> pa.Table:
    """The predictions CSV with text columns as text (never null) and the rest as float64."""
    with csv_path.open(encoding="utf-8") as f:
        header = f.readline()
    names = pa_csv.read_csv(pa.py_buffer(header.encode())).column_names if header.strip() else []
    types = {n: pa.string() if n in TEXT_COLUMNS else pa.float64() for n in names}
    convert = pa_csv.ConvertOptions(
        column_types=types, strings_can_be_null=False, quoted_strings_can_be_null=False
    )
    return pa_csv.read_csv(csv_path, convert_options=convert)


def _write_header_book(names: list[str], path: Path) -> None:
    """The workbook as XlsxWriter writes it with the header row alone."""
    import xlsxwriter

    book = xlsxwriter.Workbook(
        str(path),
        {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False},
    )
    sheet = book.add_worksheet("predictions")
    for c, name in enumerate(names):
        sheet.write_string(0, c, name)
    book.close()


def _fill(skeleton: Path, out: Path, table: pa.Table) -> None:
    """Copy the header-only workbook to ``out`` with the table's rows after the header row and
    the sheet's dimension covering them."""
    last_row = table.num_rows + 1
    with (
        zipfile.ZipFile(skeleton) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as dst,
    ):
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename != SHEET:
                dst.writestr(item, data, compress_type=zipfile.ZIP_DEFLATED)
                continue
            head, tail = data.decode().split("</sheetData>")
            last_col = _column_letter(max(table.num_columns, 1) - 1)
            head = re.sub(
                r'<dimension ref="[^"]*"/>', f'<dimension ref="A1:{last_col}{last_row}"/>', head, count=1
            )
            with dst.open(zipfile.ZipInfo(SHEET, date_time=item.date_time), "w", force_zip64=True) as sheet:
                sheet.write(head.encode())
                # Batches end at the table's chunks too (pyarrow reads a CSV in blocks of about
                # 1 MB), so each one's first row number is counted, never assumed.
                first_row = 2
                for batch in table.to_batches(XLSX_BLOCK_ROWS):
                    sheet.write(rows_xml(batch, first_row))
                    first_row += batch.num_rows
                if first_row != last_row + 1:  # never a workbook short of rows
                    raise RuntimeError(f"wrote {first_row - 2} of {table.num_rows} rows into the sheet")
                sheet.write(("</sheetData>" + tail).encode())


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def rows_xml(batch: pa.RecordBatch, first_row: int) -> bytes:
    """The ``<row>`` elements of a block of the predictions table, the first numbered
    ``first_row``: text columns (``TEXT_COLUMNS``) as inline strings, the rest as numbers."""
    if batch.num_rows == 0:
        return b""
    rows = pc.cast(pa.array(np.arange(first_row, first_row + batch.num_rows)), pa.string())
    cells = []
    for c, name in enumerate(batch.schema.names):
        ref = pc.binary_join_element_wise(f'<c r="{_column_letter(c)}', rows, "")
        if name in TEXT_COLUMNS:
            text, preserve = _cell_texts(batch.column(c))
            cell = pc.binary_join_element_wise(
                ref,
                pc.if_else(
                    preserve, '" t="inlineStr"><is><t xml:space="preserve">', '" t="inlineStr"><is><t>'
                ),
                "",
            )
            cells.append(pc.binary_join_element_wise(cell, text, "</t></is></c>", ""))
        else:
            number = float_texts(batch.column(c).to_numpy(zero_copy_only=False))
            cell = pc.binary_join_element_wise(ref, '"><v>', number, "</v></c>", "")
            cells.append(pc.fill_null(cell, ""))  # no cell for an empty number, as XlsxWriter
    xml = pc.binary_join_element_wise('<row r="', rows, '">', *cells, "</row>", "")
    offsets = pa.array([0, len(xml)], pa.int32())
    return pc.binary_join(pa.ListArray.from_arrays(offsets, xml), "")[0].as_buffer().to_pybytes()


def _cell_texts(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Each text as an inline-string cell holds it: ``unescape_text``, XML-escaped (& < >) as
    XlsxWriter escapes it, and whether it needs xml:space="preserve"."""
    values = _unescaped(values)
    special = pc.fill_null(pc.match_substring_regex(values, _SPECIAL_TEXT), False)
    special = pc.or_(special, pc.greater(pc.utf8_length(values), EXCEL_MAX_TEXT // 2))
    rows = np.flatnonzero(special.to_numpy(zero_copy_only=False))
    escaped = pc.replace_substring(
        pc.replace_substring(pc.replace_substring(values, "&", "&amp;"), "<", "&lt;"), ">", "&gt;"
    )
    if not len(rows):
        return escaped, pa.array(np.zeros(len(values), dtype=bool))
    special_texts = [_special_text(values[int(i)].as_py()) for i in rows]
    preserve = np.zeros(len(values), dtype=bool)
    preserve[rows] = [keep for _, keep in special_texts]
    return patched(escaped, rows, [text for text, _ in special_texts]), pa.array(preserve)


def _special_text(value: str) -> tuple[str, bool]:
    """XlsxWriter's handling of one text (constant-memory mode): cut at EXCEL_MAX_TEXT, an
    "_xHHHH_" in the text escaped, control characters as _xHHHH_, whether to preserve spaces."""
    units = 0
    for i, char in enumerate(value):  # never splitting a character above U+FFFF (two units)
        units += 2 if ord(char) > 0xFFFF else 1
        if units > EXCEL_MAX_TEXT:
            value = value[:i]
            break
    value = _CONTROL.sub(lambda m: f"_x{ord(m.group(1)):04X}_", _ESCAPE_LIKE.sub(r"_x005F\1", value))
    preserve = bool(re.search(r"^\s", value) or re.search(r"\s$", value))
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"), preserve


def _unescaped(values: pa.Array) -> pa.Array:
    """``unescape_text`` of every value; only values starting with a quote can change."""
    quoted = pc.fill_null(pc.starts_with(values, "'"), False)
    rows = np.flatnonzero(quoted.to_numpy(zero_copy_only=False))
    if not len(rows):
        return values
    return patched(values, rows, [unescape_text(values[int(i)].as_py()) for i in rows])
