"""The text encoding of a CSV file, decided on evidence from the whole file, not its first bytes.

A byte-order mark settles it (UTF-8, UTF-16, UTF-32). Otherwise the file is read as UTF-8, which
pyarrow checks as it converts every value; only when some byte is not UTF-8 is the whole file
scanned once (:func:`utf8_verdict`): a file with no valid multi-byte UTF-8 character anywhere is
a legacy single-byte file (Windows-1252, the usual spreadsheet export), while a file with both
valid UTF-8 characters and invalid bytes mixes encodings and is refused, naming the row and the
column of the first bad byte.
"""

from __future__ import annotations

import codecs
import csv
import gzip
from dataclasses import dataclass
from pathlib import Path

from ml_pipeline.errors import EventLogError

# Bytes Windows-1252 leaves undefined; a file holding one is read as Latin-1 instead.
_CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")
_CHUNK = 1 << 22


@dataclass
class Utf8Verdict:
    """What a scan of the whole file found: the first non-UTF-8 byte and whether any valid
    multi-byte UTF-8 character exists."""

    first_bad_line: int | None  # 1-based line of the first byte that is not UTF-8
    bad_line_text: str  # that line, decoded with replacement characters
    has_utf8_characters: bool
    single_byte_encoding: str  # "cp1252", or "latin-1" when a byte undefined in cp1252 occurs


def open_bytes(path: Path, compressed: bool):
    """The file's (decompressed) bytes, opened for reading."""
    return gzip.open(path, "rb") if compressed else path.open("rb")


def utf8_verdict(path: Path, compressed: bool) -> Utf8Verdict:
    """Scan the file once as UTF-8 (see the module docstring); memory is bounded by a 4 MiB chunk."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    lines_before, tail = 0, ""
    first_bad_line, bad_text = None, ""
    has_utf8, undefined = False, False
    with open_bytes(path, compressed) as fh:
        while True:
            chunk = fh.read(_CHUNK)
            final = not chunk
            text = decoder.decode(chunk, final=final)
            undefined = undefined or not _CP1252_UNDEFINED.isdisjoint(chunk)
            if not text.isascii():
                bad = text.find("\ufffd")
                if bad < 0:
                    has_utf8 = True
                else:
                    has_utf8 = has_utf8 or any(ord(c) > 127 for c in text.replace("\ufffd", ""))
                    if first_bad_line is None:
                        before = tail + text[:bad]
                        first_bad_line = lines_before + before.count("\n") + 1
                        start = before.rfind("\n") + 1
                        rest = (tail + text)[start:]
                        bad_text = rest.split("\n", 1)[0]
            if first_bad_line is None:
                lines_before += text.count("\n")
                tail = text[text.rfind("\n") + 1 :] if "\n" in text else tail + text
            if final:
                break
            if first_bad_line is not None and has_utf8:
                break  # the verdict cannot change any more
    return Utf8Verdict(first_bad_line, bad_text, has_utf8, "latin-1" if undefined else "cp1252")


def decide_after_utf8_failure(
    path: Path, compressed: bool, delimiter: str, header: list[str]
) -> tuple[str, str]:
    """(encoding, warning) for a file that is not all UTF-8; EventLogError when it mixes encodings.

    The error names the first bad row (the header is row 1) and its column by header.
    """
    v = utf8_verdict(path, compressed)
    if v.first_bad_line is None:  # pyarrow's failure was not the encoding after all
        raise EventLogError(f"{path.name}: cannot be read as CSV text")
    where = f"row {v.first_bad_line}"
    fields = next(csv.reader([v.bad_line_text], delimiter=delimiter), [])
    column = next((i for i, f in enumerate(fields) if "\ufffd" in f), None)
    if column is not None and column < len(header):
        where += f", column {header[column]}"
    if v.has_utf8_characters:
        raise EventLogError(
            f"{path.name}: {where} holds bytes that are not UTF-8, while other rows are UTF-8: "
            "the file mixes encodings; save it again as UTF-8, or pass --encoding cp1252 to read "
            "all of it as Windows-1252"
        )
    name = {"cp1252": "Windows-1252 (cp1252)", "latin-1": "Latin-1"}[v.single_byte_encoding]
    return v.single_byte_encoding, (
        f"the file is not UTF-8 (first at {where}); read it as {name}; pass --encoding if it is another"
    )
