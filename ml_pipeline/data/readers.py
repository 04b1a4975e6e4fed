"""Reading event-log files (CSV/TSV, gzip, .xlsx, Parquet) into a raw pyarrow table.

The format is decided from the file's content and must agree with its extension, so a
renamed or corrupt file is refused with a clear message instead of being misread.
"""

from __future__ import annotations

import csv
import gzip
import logging
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ml_pipeline.data.encodings import decide_after_utf8_failure, open_bytes
from ml_pipeline.data.writing import write_frame_csv
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
    encoding: str | None = None  # of a text file


# Byte-order marks, longest first (UTF-32 LE starts with UTF-16 LE's mark).
BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)


def bom_encoding(head: bytes) -> str | None:
    """The encoding a byte-order mark at the start of ``head`` announces, or None."""
    return next((enc for bom, enc in BOMS if head.startswith(bom)), None)


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
    if bom_encoding(head):  # UTF-16 and UTF-32 text is full of NUL bytes
        return "text"
    if b"\x00" in head:
        return "binary"
    return "text"


def _expected_kind(path: Path) -> str | None:
    suffixes = [s.lower() for s in path.suffixes]
    if not suffixes:
        return None
    return _EXTENSION_KINDS.get(suffixes[-1])


def _sniff(path: Path) -> tuple[str, bytes]:
    """The file's kind and its first (decompressed) bytes, refusing what cannot be an event log."""
    if not path.exists():
        raise EventLogError(f"{path}: file not found")
    if path.is_dir():
        raise EventLogError(f"{path}: is a folder, not a file")
    with path.open("rb") as fh:
        head = fh.read(_HEAD_BYTES)
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
    if kind == "gzip":
        with gzip.open(path, "rb") as fh:
            try:
                head = fh.read(_HEAD_BYTES)
            except (OSError, EOFError) as exc:
                raise EventLogError(f"{path.name}: the gzip data is corrupt ({exc})") from exc
        inner_kind = sniff_kind(head)
        if inner_kind == "empty":
            raise EventLogError(f"{path.name}: the file is empty (gzip holds no data)")
        if inner_kind != "text":
            raise EventLogError(f"{path.name}: the gzip file holds {_KIND_NAMES[inner_kind]}, not CSV text")
    if kind == "xls":
        raise EventLogError(f"{path.name}: legacy .xls workbooks are not supported; save it as .xlsx or CSV")
    if kind not in ("text", "gzip", "xlsx", "parquet"):
        raise EventLogError(f"{path.name}: {_KIND_NAMES[kind]} is not a CSV, Excel or Parquet event log")
    return kind, head


_MB = 1 << 20


def check_inflated_size(path: Path, kind: str, max_inflated_mb: float | None) -> None:
    """Refuse a compressed file whose contents are larger than ``max_inflated_mb`` (MB; None: no
    limit), before anything parses it: a small upload can unpack to gigabytes.

    An .xlsx (a zip) is judged by its members' declared sizes, which Python's zipfile holds each
    member to when it is read (openpyxl reads through it); a .gz is decompressed once, counting,
    and stopped as soon as it passes the limit (a gzip header cannot be trusted with the size).
    Raises EventLogError naming the sizes, the limit and the way past it.
    """
    if max_inflated_mb is None or kind not in ("xlsx", "gzip"):
        return
    limit = int(max_inflated_mb * _MB)
    if kind == "xlsx":
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
        total = sum(m.file_size for m in members)
        if total > limit:
            largest = max(members, key=lambda m: m.file_size)
            raise EventLogError(
                f"{path.name}: the workbook unpacks to {total / _MB:,.0f} MB ({largest.filename} alone "
                f"{largest.file_size / _MB:,.0f} MB) from {path.stat().st_size / _MB:,.1f} MB, more than "
                f"the {max_inflated_mb:g} MB allowed for a compressed file's contents; export the sheet "
                "as CSV and use that file"
            )
        return
    seen = 0
    try:
        stream = pa.input_stream(str(path), compression="gzip")
        while chunk := stream.read(4 * _MB):
            seen += len(chunk)
            if seen > limit:
                raise EventLogError(
                    f"{path.name}: the gzip file unpacks to more than {max_inflated_mb:g} MB (from "
                    f"{path.stat().st_size / _MB:,.1f} MB), the most allowed for a compressed file's "
                    "contents; split the log into smaller files, or upload it as plain CSV if it is "
                    "within the upload limit"
                )
    except (OSError, EOFError):
        return  # a corrupt or truncated gzip: the reader itself says so, with the row where it can


def read_raw(
    path: str | Path,
    sheet: str | None = None,
    encoding: str | None = None,
    max_inflated_mb: float | None = None,
) -> RawTable:
    """Read a file into a table of columns, refusing files whose content is not what the name says.

    ``encoding`` (a Python codec name) overrides the one decided for a text file; a compressed
    file unpacking to more than ``max_inflated_mb`` MB is refused (see check_inflated_size).
    """
    path = Path(path)
    kind, head = _sniff(path)
    check_inflated_size(path, kind, max_inflated_mb)
    if kind in ("text", "gzip"):
        return _read_csv(path, head, compressed=kind == "gzip", encoding=encoding)
    if kind == "xlsx":
        return _read_xlsx(path, sheet)
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise EventLogError(f"{path.name}: not a readable Parquet file ({exc})") from exc
    return RawTable(table=table, source_format="parquet")


class RawStream:
    """A file read in batches of rows, so memory is bounded by a batch rather than the file.

    Iterate for pyarrow tables with the same columns; ``warnings`` is complete once iteration ends.
    A compressed file unpacking to more than ``max_inflated_mb`` MB is refused when the stream
    is made (see check_inflated_size).
    """

    def __init__(
        self,
        path: str | Path,
        sheet: str | None = None,
        encoding: str | None = None,
        batch_rows: int = 500_000,
        max_inflated_mb: float | None = None,
    ):
        self.path = Path(path)
        self.sheet, self.encoding = sheet, encoding
        self.batch_rows = batch_rows
        self.kind, self._head = _sniff(self.path)
        check_inflated_size(self.path, self.kind, max_inflated_mb)
        self.warnings: list[str] = []
        self.source_format = self.kind  # CSV reading replaces it with the precise format

    def __iter__(self):
        if self.kind in ("text", "gzip"):
            yield from self._csv_batches()
        elif self.kind == "xlsx":
            yield from self._xlsx_batches()
        else:
            yield from self._parquet_batches()

    def _csv_batches(self):
        """Batches of the CSV file; raises EncodingSwitch when a byte that is not UTF-8 turns up
        after the first batch (the caller starts again with the encoding it names).

        A row longer than the block of text pyarrow reads at a time makes the file be read again
        in blocks of ``_LARGEST_BLOCK``, past the rows already yielded; a row longer than that is
        refused (EventLogError naming the row it follows and the limit).
        """
        opts = _CsvOptions(self.path, self._head, compressed=self.kind == "gzip", encoding=self.encoding)
        self.warnings, self.source_format = opts.warnings, opts.source_format
        # pyarrow reads blocks of bytes; ~48 bytes per row makes a block about batch_rows rows.
        block = max(4096, self.batch_rows * 48)
        done = 0  # data rows yielded so far
        while True:
            try:
                for table in self._csv_blocks(opts, block, skip=done):
                    done += table.num_rows
                    yield table
                break
            except _RowTooLong as exc:
                if block >= _LARGEST_BLOCK:
                    raise EventLogError(
                        f"{self.path.name}: a row after row {done + 1} is longer than "
                        f"{_LARGEST_BLOCK >> 20} MB, the longest row this reader takes; an event log's "
                        "rows are short (is a field's closing quote missing?)"
                    ) from exc
                block = _LARGEST_BLOCK
                opts.skipped.clear()  # the second read meets the same dropped rows again
        opts.finish()

    def _csv_blocks(self, opts: _CsvOptions, block: int, skip: int):
        """Tables of the CSV file read in ``block``-byte blocks, without its first ``skip`` data
        rows; _RowTooLong when a row does not fit in a block."""
        empty = True
        try:
            with pacsv.open_csv(
                pa.input_stream(str(self.path), compression="gzip" if self.kind == "gzip" else None),
                read_options=pacsv.ReadOptions(**opts.read_kwargs, block_size=block),
                parse_options=opts.parse,
                convert_options=opts.convert,
            ) as reader:
                for batch in reader:
                    empty = False
                    if skip >= batch.num_rows:
                        skip -= batch.num_rows
                        continue
                    yield pa.Table.from_batches([batch.slice(skip)])
                    skip = 0
                if empty:
                    yield reader.schema.empty_table()
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            if opts.utf8_unconfirmed and _is_utf8_failure(exc):
                opts.switch_encoding()
                raise EncodingSwitch(opts.encoding, opts.warnings[-1]) from exc
            if "straddl" in str(exc):
                raise _RowTooLong() from exc
            raise _csv_error(self.path, exc, opts) from exc
        except (OSError, EOFError) as exc:
            raise EventLogError(f"{self.path.name}: the file is truncated or corrupt ({exc})") from exc

    def _xlsx_batches(self):
        # openpyxl's read-only mode streams rows; the whole sheet is never held as Python objects.
        yield from _xlsx_tables(self.path, self.sheet, self.warnings, self.batch_rows)

    def _parquet_batches(self):
        try:
            pf = pq.ParquetFile(self.path)
            for batch in pf.iter_batches(batch_size=self.batch_rows):
                yield pa.Table.from_batches([batch])
        except (pa.ArrowException, OSError) as exc:
            raise EventLogError(f"{self.path.name}: not a readable Parquet file ({exc})") from exc


# pyarrow reads 1 MB blocks and refuses a row that does not fit in one; a file with such a row is
# read again in blocks this large before it is refused.
_LARGEST_BLOCK = 64 << 20
_SHEETS_NOTE = re.compile(r"^the workbook has \d+ sheets \((.*)\); read the first")


def with_sheet_hint(exc: EventLogError, warnings: list[str]) -> EventLogError:
    """A missing-column refusal of a workbook's first sheet, told that another sheet may hold the
    events (``warnings``: the reader's, which name the sheets); other errors unchanged."""
    sheets = next((m.group(1) for w in warnings if (m := _SHEETS_NOTE.match(w))), None)
    if sheets is None or not str(exc).startswith("no "):
        return exc
    return EventLogError(f"{exc}; or, if the events are on another sheet ({sheets}), pass --sheet NAME")


def _is_xlsx(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return "xl/workbook.xml" in zf.namelist()
    except zipfile.BadZipFile:
        return False


def _decode_head(head: bytes, encoding: str | None) -> tuple[str, str | None]:
    """The first bytes as text and the encoding they settle (None: UTF-8 so far, to be confirmed
    by reading the whole file). A cut multi-byte character at the end is replaced, not an error."""
    encoding = encoding or bom_encoding(head)
    if encoding:
        return head.decode(encoding, errors="replace").lstrip("\ufeff"), encoding
    return head.decode("utf-8", errors="replace"), None


def detect_delimiter(header_line: str) -> str:
    """Pick the delimiter (comma, semicolon or tab) that splits the header line most."""
    counts = {d: header_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


_HEAD_BYTES = 65536
_LONGEST_HEADER = 16 << 20


def _header_bytes(path: Path, compressed: bool) -> bytes:
    """The file's first line (and a little more), for a header wider than the first 64 KiB;
    EventLogError past 16 MB without a line break."""
    with open_bytes(path, compressed) as fh:
        head = fh.read(_LONGEST_HEADER)
    if b"\n" not in head and len(head) >= _LONGEST_HEADER:
        raise EventLogError(f"{path.name}: the first line is longer than 16 MB; is it a CSV file?")
    return head


class _RowTooLong(Exception):
    """A row did not fit in the block of text the CSV reader reads at a time."""


class EncodingSwitch(Exception):
    """Raised by a streamed read that met a byte that is not UTF-8 after some batches: the caller
    starts again with ``encoding`` (and adds ``warning``)."""

    def __init__(self, encoding: str, warning: str):
        super().__init__(warning)
        self.encoding, self.warning = encoding, warning


def _is_utf8_failure(exc: Exception) -> bool:
    return isinstance(exc, UnicodeDecodeError) or "UTF8" in str(exc) or "UTF-8" in str(exc)


class _CsvOptions:
    """pyarrow options for one CSV file (delimiter, encoding, header), shared by whole and batched reads."""

    def __init__(self, path: Path, head: bytes, compressed: bool, encoding: str | None = None):
        self.path, self.compressed = path, compressed
        if b"\n" not in head and len(head) >= _HEAD_BYTES:
            head = _header_bytes(path, compressed)  # a header wider than the first 64 KiB
        text, self.encoding = _decode_head(head, encoding)
        lines = text.splitlines()
        header_line = lines[0] if lines else ""
        if not header_line.strip():
            raise EventLogError(f"{path.name}: the first line is blank; the header row must come first")
        self.delimiter = detect_delimiter(header_line)
        header = next(csv.reader([header_line], delimiter=self.delimiter))
        self.names = _dedupe([h.strip() or f"column_{i + 1}" for i, h in enumerate(header)])
        self.warnings: list[str] = []
        if self.encoding is None and "\ufffd" in text[: len(text) - 4]:
            self.switch_encoding()  # the first bytes are already not UTF-8
        self.skipped: list[int] = []
        self.parse = pacsv.ParseOptions(
            delimiter=self.delimiter, invalid_row_handler=self._on_invalid, newlines_in_values=False
        )
        self.convert = pacsv.ConvertOptions(
            column_types={n: pa.string() for n in self.names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        fmt = "csv.gz" if compressed else "csv"
        if self.delimiter != ",":
            fmt += " (" + {";": "semicolon", "\t": "tab", "|": "pipe"}[self.delimiter] + "-separated)"
        self.source_format = fmt

    @property
    def read_kwargs(self) -> dict:
        return {"encoding": self.encoding or "utf-8", "column_names": self.names, "skip_rows": 1}

    @property
    def utf8_unconfirmed(self) -> bool:
        """Read as UTF-8 on the first bytes' evidence only (a later byte may say otherwise)."""
        return self.encoding is None

    def switch_encoding(self) -> None:
        """Decide the encoding from the whole file after a byte that is not UTF-8 (see
        :mod:`ml_pipeline.data.encodings`); raises EventLogError for a file that mixes encodings."""
        self.encoding, warning = decide_after_utf8_failure(
            self.path, self.compressed, self.delimiter, self.names
        )
        self.warnings.append(warning)

    def describe_encoding(self) -> str:
        return self.encoding or "utf-8"

    def _on_invalid(self, row: pacsv.InvalidRow) -> str:
        self.skipped.append(row.number if row.number is not None else -1)
        return "skip"

    def finish(self) -> None:
        """Add the warning about rows the reader dropped (call after reading)."""
        if self.skipped:
            known = sorted(n for n in self.skipped if n > 0)
            where = f" (first at row {known[0]})" if known else ""
            self.warnings.append(
                f"{len(self.skipped)} row(s) with the wrong number of fields were dropped{where}"
            )


def _read_csv(path: Path, head: bytes, compressed: bool, encoding: str | None) -> RawTable:
    opts = _CsvOptions(path, head, compressed, encoding)
    try:
        table = _read_csv_table(path, opts)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        if not (opts.utf8_unconfirmed and _is_utf8_failure(exc)):
            raise _csv_error(path, exc, opts) from exc
        opts.switch_encoding()
        opts.skipped.clear()
        try:
            table = _read_csv_table(path, opts)
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc2:
            raise _csv_error(path, exc2, opts) from exc2
    opts.finish()
    return RawTable(
        table=table,
        source_format=opts.source_format,
        warnings=opts.warnings,
        skipped_rows=opts.skipped,
        encoding=opts.describe_encoding(),
    )


def _read_csv_table(path: Path, opts: _CsvOptions) -> pa.Table:
    for block_size in (None, _LARGEST_BLOCK):
        try:
            stream = pa.input_stream(str(path), compression="gzip" if opts.compressed else None)
            read = pacsv.ReadOptions(**opts.read_kwargs, **({"block_size": block_size} if block_size else {}))
            return pacsv.read_csv(
                stream, read_options=read, parse_options=opts.parse, convert_options=opts.convert
            )
        except pa.ArrowInvalid as exc:
            if "straddl" not in str(exc):
                raise
            if block_size:
                raise EventLogError(
                    f"{path.name}: a row is longer than {_LARGEST_BLOCK >> 20} MB; an event log's rows are "
                    "short (is a field's closing quote missing?)"
                ) from exc
        except (OSError, EOFError) as exc:
            raise EventLogError(f"{path.name}: the file is truncated or corrupt ({exc})") from exc
    raise AssertionError("unreachable")  # the loop returns or raises


def _csv_error(path: Path, exc: Exception, opts: _CsvOptions) -> EventLogError:
    if _is_utf8_failure(exc) or isinstance(exc, UnicodeDecodeError):
        return EventLogError(
            f"{path.name}: cannot be decoded as {opts.describe_encoding()} ({str(exc).splitlines()[0]}); "
            "pass --encoding with the file's encoding"
        )
    return EventLogError(f"{path.name}: cannot be read as CSV ({str(exc).splitlines()[0]})")


def _read_xlsx(path: Path, sheet: str | None) -> RawTable:
    warnings: list[str] = []
    tables = list(_xlsx_tables(path, sheet, warnings))
    return RawTable(table=pa.concat_tables(tables), source_format="xlsx", warnings=warnings)


def _xlsx_tables(path: Path, sheet: str | None, warnings: list[str], batch_rows: int = 1 << 40):
    """Yield the sheet's rows as string tables of up to ``batch_rows`` rows (openpyxl streams them)."""
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise EventLogError(f"{path.name}: not a valid Excel workbook ({exc})") from exc
    try:
        names = wb.sheetnames
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
            raise EventLogError(
                f"{path.name}: no sheet named '{sheet}' (sheets: {', '.join(names)}); pass --sheet with one of them"
            )
        ws = wb[chosen]
        # Some exporters record a wrong used range (e.g. "A1"); read-only mode would trust it and
        # stop there, so the range is forgotten and the sheet read to its real end.
        ws.reset_dimensions()
        rows = ws.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None or all(v is None for v in header):
            raise EventLogError(f"{path.name}: sheet '{chosen}' is empty")
        names_row = _dedupe(
            [str(v).strip() if v is not None else f"column_{i + 1}" for i, v in enumerate(header)]
        )
        width = len(names_row)

        def table(columns: list[list[str]]) -> pa.Table:
            return pa.table({n: pa.array(c, type=pa.string()) for n, c in zip(names_row, columns)})

        columns: list[list[str]] = [[] for _ in names_row]
        yielded = False
        for values in rows:
            # Empty rows are kept (as empty fields) so row numbers match the sheet's; the
            # normalization leaves them out with a note, as it does a CSV's.
            values = values or ()
            for i in range(width):
                v = values[i] if i < len(values) else None
                columns[i].append(_cell_text(v))
            if len(columns[0]) >= batch_rows:
                yield table(columns)
                columns, yielded = [[] for _ in names_row], True
        if columns[0] or not yielded:
            yield table(columns)
    finally:
        wb.close()


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
    """Write a frame as CSV through a temporary file, so a failure never leaves half a file; the
    bytes are pandas' ``to_csv(index=False)``'s (:func:`ml_pipeline.data.writing.write_frame_csv`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    write_frame_csv(frame, tmp)
    tmp.replace(path)
