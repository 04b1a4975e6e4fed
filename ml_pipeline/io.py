"""Reading event-log files (CSV/TSV, gzip, .xlsx, Parquet) into a raw pyarrow table.

The format is decided from the file's content and must agree with its extension, so a
renamed or corrupt file is refused with a clear message instead of being misread.
"""

from __future__ import annotations

import csv
import gzip
import logging
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ml_pipeline.errors import EventLogError

logger = logging.getLogger(__name__)

_EXTENSION_KINDS = {
    ".csv": "text",
    ".tsv": "text",
    ".txt": "text",
    ".gz": "gzip",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_KIND_NAMES = {
    "text": "a text (CSV) file",
    "gzip": "a gzip file",
    "xlsx": "an Excel .xlsx workbook",
    "zip": "a zip archive",
    "parquet": "a Parquet file",
    "xls": "a legacy Excel .xls file",
    "binary": "a binary file",
}


@dataclass
class RawTable:
    """A file's rows before any parsing: the table plus facts learned while reading."""

    table: pa.Table
    source_format: str
    warnings: list[str] = field(default_factory=list)
    skipped_rows: list[int] = field(default_factory=list)  # 1-based file rows dropped by the reader


def sniff_kind(head: bytes) -> str:
    """Tell what a file is from its first bytes."""
    if not head:
        return "empty"
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if head[:4] == b"PAR1":
        return "parquet"
    if head[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return "xls"
    if b"\x00" in head:
        return "binary"
    return "text"


def _expected_kind(path: Path) -> str | None:
    suffixes = [s.lower() for s in path.suffixes]
    if not suffixes:
        return None
    return _EXTENSION_KINDS.get(suffixes[-1])


def read_raw(path: str | Path, sheet: str | None = None) -> RawTable:
    """Read a file into a table of columns, refusing files whose content is not what the name says."""
    path = Path(path)
    if not path.exists():
        raise EventLogError(f"{path}: file not found")
    if path.is_dir():
        raise EventLogError(f"{path}: is a folder, not a file")
    with path.open("rb") as fh:
        head = fh.read(65536)
    kind = sniff_kind(head)
    if kind == "empty":
        raise EventLogError(f"{path.name}: the file is empty")
    if kind == "zip" and _is_xlsx(path):
        kind = "xlsx"
    expected = _expected_kind(path)
    if expected is not None and expected != kind:
        raise EventLogError(
            f"{path.name}: the name says {_KIND_NAMES[expected]} but the content is {_KIND_NAMES[kind]}"
        )
    if kind == "text":
        return _read_csv(path, head, compressed=False)
    if kind == "gzip":
        with gzip.open(path, "rb") as fh:
            try:
                inner = fh.read(65536)
            except (OSError, EOFError) as exc:
                raise EventLogError(f"{path.name}: the gzip data is corrupt ({exc})") from exc
        inner_kind = sniff_kind(inner)
        if inner_kind == "empty":
            raise EventLogError(f"{path.name}: the file is empty (gzip holds no data)")
        if inner_kind != "text":
            raise EventLogError(f"{path.name}: the gzip file holds {_KIND_NAMES[inner_kind]}, not CSV text")
        return _read_csv(path, inner, compressed=True)
    if kind == "xlsx":
        return _read_xlsx(path, sheet)
    if kind == "parquet":
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise EventLogError(f"{path.name}: not a readable Parquet file ({exc})") from exc
        return RawTable(table=table, source_format="parquet")
    if kind == "xls":
        raise EventLogError(f"{path.name}: legacy .xls workbooks are not supported; save it as .xlsx or CSV")
    raise EventLogError(f"{path.name}: {_KIND_NAMES[kind]} is not a CSV, Excel or Parquet event log")


def _is_xlsx(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return "xl/workbook.xml" in zf.namelist()
    except zipfile.BadZipFile:
        return False


def _decode_head(head: bytes, name: str) -> tuple[str, str]:
    """Decode the first bytes, returning (text, encoding)."""
    if head.startswith(b"\xef\xbb\xbf"):
        return head[3:].decode("utf-8", errors="ignore"), "utf-8"
    try:
        return head.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the 64 KiB boundary is not an encoding problem.
        if exc.start >= len(head) - 4:
            return head[: exc.start].decode("utf-8"), "utf-8"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise EventLogError(f"{name}: the file is UTF-16 encoded; save it as UTF-8 CSV")
    return head.decode("cp1252", errors="replace"), "cp1252"


def detect_delimiter(header_line: str) -> str:
    """Pick the delimiter (comma, semicolon or tab) that splits the header line most."""
    counts = {d: header_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _read_csv(path: Path, head: bytes, compressed: bool) -> RawTable:
    text, encoding = _decode_head(head, path.name)
    lines = text.splitlines()
    header_line = lines[0] if lines else ""
    if not header_line.strip():
        raise EventLogError(f"{path.name}: the first line is blank; the header row must come first")
    delimiter = detect_delimiter(header_line)
    header = next(csv.reader([header_line], delimiter=delimiter))
    names = _dedupe([h.strip() or f"column_{i + 1}" for i, h in enumerate(header)])
    warnings: list[str] = []
    if encoding != "utf-8":
        warnings.append(f"the file is not UTF-8; read it as {encoding}")
    skipped: list[int] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        skipped.append(row.number if row.number is not None else -1)
        return "skip"

    try:
        stream = pa.input_stream(str(path), compression="gzip" if compressed else None)
        table = pacsv.read_csv(
            stream,
            read_options=pacsv.ReadOptions(encoding=encoding, column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, invalid_row_handler=on_invalid, newlines_in_values=False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise EventLogError(f"{path.name}: cannot be read as CSV ({str(exc).splitlines()[0]})") from exc
    except (OSError, EOFError) as exc:
        raise EventLogError(f"{path.name}: the file is truncated or corrupt ({exc})") from exc
    if skipped:
        known = sorted(n for n in skipped if n > 0)
        where = f" (first at row {known[0]})" if known else ""
        warnings.append(f"{len(skipped)} row(s) with the wrong number of fields were dropped{where}")
    fmt = "csv.gz" if compressed else "csv"
    if delimiter != ",":
        fmt += " (" + {";": "semicolon", "\t": "tab", "|": "pipe"}[delimiter] + "-separated)"
    return RawTable(table=table, source_format=fmt, warnings=warnings, skipped_rows=skipped)


def _read_xlsx(path: Path, sheet: str | None) -> RawTable:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise EventLogError(f"{path.name}: not a valid Excel workbook ({exc})") from exc
    try:
        names = wb.sheetnames
        warnings: list[str] = []
        if sheet is None:
            chosen = names[0]
            if len(names) > 1:
                warnings.append(
                    f"the workbook has {len(names)} sheets ({', '.join(names)}); read the first, "
                    f"'{chosen}' (choose another with --sheet)"
                )
        elif sheet in names:
            chosen = sheet
        else:
            raise EventLogError(f"{path.name}: no sheet named '{sheet}' (sheets: {', '.join(names)})")
        rows = wb[chosen].iter_rows(values_only=True)
        header = next(rows, None)
        if header is None or all(v is None for v in header):
            raise EventLogError(f"{path.name}: sheet '{chosen}' is empty")
        names_row = [str(v).strip() if v is not None else f"column_{i + 1}" for i, v in enumerate(header)]
        columns: list[list[str]] = [[] for _ in names_row]
        width = len(names_row)
        for values in rows:
            if values is None or all(v is None for v in values):
                continue
            for i in range(width):
                v = values[i] if i < len(values) else None
                columns[i].append(_cell_text(v))
    finally:
        wb.close()
    table = pa.table({n: pa.array(c, type=pa.string()) for n, c in zip(_dedupe(names_row), columns)})
    return RawTable(table=table, source_format="xlsx", warnings=warnings)


def _cell_text(v: object) -> str:
    if v is None:
        return ""
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _dedupe(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            out.append(f"{n}.{seen[n]}")
        else:
            seen[n] = 0
            out.append(n)
    return out


def write_csv_atomic(frame, path: str | Path) -> None:
    """Write a frame as CSV through a temporary file, so a failure never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_csv(tmp, index=False, encoding="utf-8")
    tmp.replace(path)
