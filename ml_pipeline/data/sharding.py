"""Splitting an event-log file of any size into customer shards, in one streaming pass.

The bulk scorer must not hold a whole file in one worker. :func:`shard_file` reads the file in
batches, writes each row (still raw text) to the shard its customer id hashes to, and gathers
evidence about the date format and the decimal style across all batches. The formats are then
decided once for the whole file, so a shard parses exactly as the whole file would, and an
ambiguous or mixed column is refused before any scoring starts. :func:`load_shards` turns a
group of shards into an :class:`~ml_pipeline.data.eventlog.EventLog` with the file's own row numbers
in its messages.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ml_pipeline.data.arrow_columns import (
    distinct_values,
    is_native_date,
    is_numeric,
    native_days,
    row_locator,
)
from ml_pipeline.data.columns import resolve_columns
from ml_pipeline.data.eventlog import EventLog, from_table
from ml_pipeline.data.parsing import (
    AmountEvidence,
    DateEvidence,
    amount_evidence,
    date_evidence,
    decide_date_format,
    parse_dates,
)
from ml_pipeline.data.readers import RawStream
from ml_pipeline.errors import EventLogError

ROW_COLUMN = "__row"  # the row's number in the original file (header = row 1)
BYTES_PER_SHARD = 4 << 20  # of uncompressed text; ~100k events
_COMPRESSION = {"gzip": 6, "xlsx": 6, "parquet": 4, "text": 1}
# Shards are Arrow IPC files: appending a batch costs next to nothing (Parquet spent seconds on
# thousands of small row groups); LZ4 keeps them about the size of the gzip upload.
_IPC = pa.ipc.IpcWriteOptions(compression="lz4")
_DATE_POOL_MAX = 200_000


def _read_shard(path: Path) -> pa.Table:
    with pa.ipc.open_file(path) as reader:
        return reader.read_all()


@dataclass
class Shards:
    """A file split by customer: shard files, their customer counts and the file-wide formats."""

    paths: list[Path]
    customers: list[int]  # distinct non-empty customer ids per shard
    rows: int
    last_day: int | None  # the latest readable event day in the file
    columns: dict[str, str]  # canonical field -> the file's header
    formats: dict[str, str]  # {"date": format, "amount": "comma" | "dot"} for text columns
    source_format: str
    warnings: list[str] = field(default_factory=list)

    def groups(self, customers_per_group: int) -> list[list[int]]:
        """Consecutive shards in ceil(customers / customers_per_group) groups of about equal size."""
        total = sum(self.customers)
        n_groups = max(1, math.ceil(total / max(1, customers_per_group)))
        target = total / n_groups
        out: list[list[int]] = [[]]
        seen = 0
        for i, n in enumerate(self.customers):
            # Start a new group when this shard's middle lies past the current group's share.
            if out[-1] and len(out) < n_groups and seen + n / 2 > len(out) * target:
                out.append([])
            out[-1].append(i)
            seen += n
        return out


def shard_count(path: Path, kind: str) -> int:
    """Shards for a file: about one per 4 MB of text, between 32 and 256.

    At least 32, so even a small file can be grouped into partitions of a few customers.
    """
    size = path.stat().st_size * _COMPRESSION.get(kind, 1)
    return int(min(256, max(32, math.ceil(size / BYTES_PER_SHARD))))


def shard_file(
    path: str | Path,
    out_dir: str | Path,
    *,
    column_mapping: dict[str, str] | None = None,
    sheet: str | None = None,
    n_shards: int | None = None,
    batch_rows: int = 100_000,
    max_bad_share: float = 0.01,
) -> Shards:
    """Split ``path`` into Arrow shards under ``out_dir`` by a stable hash of the customer id.

    Memory is bounded by ``batch_rows``, not by the file. Raises EventLogError for a file that
    cannot be read, lacks the required columns, or mixes date or number formats.
    """
    path, out_dir = Path(path), Path(out_dir)
    stream = RawStream(path, sheet=sheet, batch_rows=batch_rows)
    n_shards = n_shards or shard_count(path, stream.kind)
    writers: dict[int, pa.ipc.RecordBatchFileWriter] = {}
    cols: dict[str, str] = {}
    warnings: list[str] = []
    date_ev, amount_ev = DateEvidence(), AmountEvidence()
    # Distinct date strings of the whole file, while there are few (dates without a time of day);
    # the last day then comes from them instead of a second pass over the shards.
    date_pool: pa.Array | None = pa.array([], pa.string())
    offset = 0
    try:
        for table in stream:
            if not cols:
                cols, warnings = resolve_columns(table.column_names, column_mapping)
            n = table.num_rows
            if n == 0:
                continue
            # Hash each distinct id once (a stable hash of the value), then map it to the rows.
            ids = pc.dictionary_encode(
                pc.utf8_trim_whitespace(table.column(cols["customer_id"]).cast(pa.string()))
            ).combine_chunks()
            hashed = pd.util.hash_array(
                ids.dictionary.to_numpy(zero_copy_only=False).astype(object), categorize=False
            )
            shard = (hashed % np.uint64(n_shards)).astype(np.int64)[
                ids.indices.to_numpy(zero_copy_only=False)
            ]
            first_row = partial(operator.add, offset + 2)  # table index -> row in the file
            dates = table.column(cols["event_date"])
            if not is_native_date(dates):
                values, codes = distinct_values(dates)
                counts = np.bincount(codes, minlength=len(values))
                date_ev = date_ev.merge(date_evidence(values, counts, row_locator(values, codes, first_row)))
                if date_pool is not None:
                    date_pool = pc.unique(pa.concat_arrays([date_pool, pa.array(values, pa.string())]))
                    date_pool = date_pool if len(date_pool) <= _DATE_POOL_MAX else None
            if "amount" in cols and not is_numeric(table.column(cols["amount"])) and not amount_ev.both():
                values, codes = distinct_values(table.column(cols["amount"]))
                s = values.fillna("").str.strip()
                # A plain number can only show a decimal point (looked for until one is found);
                # anything else may show either style.
                maybe = pd.to_numeric(s.where(s != "", "0"), errors="coerce").isna()
                if amount_ev.dot is None:
                    maybe |= s.str.contains(".", regex=False)
                maybe = maybe.to_numpy(bool)
                if maybe.any():
                    found = amount_evidence(values[maybe], row_locator(values, codes, first_row))
                    amount_ev = amount_ev.merge(found)
            table = table.append_column(ROW_COLUMN, pa.array(np.arange(offset + 2, offset + 2 + n)))
            order = np.argsort(shard, kind="stable")
            bounds = np.concatenate([[0], np.cumsum(np.bincount(shard, minlength=n_shards))])
            table = table.take(pa.array(order))
            for s in np.flatnonzero(np.diff(bounds)):
                if s not in writers:
                    writers[s] = pa.ipc.new_file(out_dir / f"shard-{s:05d}.arrow", table.schema, options=_IPC)
                writers[s].write_table(table.slice(bounds[s], bounds[s + 1] - bounds[s]))
            offset += n
    finally:
        for w in writers.values():
            w.close()
    if offset == 0:
        raise EventLogError(f"{path.name}: the file has a header but no data rows")
    formats = {}
    if date_ev.rows:
        formats["date"] = decide_date_format(date_ev, column=cols["event_date"], max_bad_share=max_bad_share)
    if "amount" in cols:
        formats["amount"] = amount_ev.decide(cols["amount"])
    paths = [out_dir / f"shard-{s:05d}.arrow" for s in sorted(writers)]
    scan_dates = date_pool is None or not date_ev.rows
    customers, last_day = [], None
    for p in paths:
        n, last = _scan_shard(p, cols, formats, scan_dates)
        customers.append(n)
        if last is not None:
            last_day = last if last_day is None else max(last_day, last)
    if not scan_dates:
        values = date_pool.to_pandas().astype("string")
        days = parse_dates(
            values, np.ones(len(values), np.int64), column=cols["event_date"], decided=formats["date"]
        ).days
        days = days[np.isfinite(days)]
        last_day = int(days.max()) if len(days) else None
    return Shards(
        paths=paths,
        customers=customers,
        rows=offset,
        last_day=last_day,
        columns=cols,
        formats=formats,
        source_format=stream.source_format,
        warnings=[*stream.warnings, *warnings],
    )


def _scan_shard(
    path: Path, cols: dict[str, str], formats: dict[str, str], dates: bool
) -> tuple[int, int | None]:
    """Distinct customers and (when ``dates``) the latest readable day of one shard."""
    table = _read_shard(path).select([cols["customer_id"], cols["event_date"]])
    ids = pc.utf8_trim_whitespace(table.column(0).cast(pa.string()))
    n = int(pc.count_distinct(pc.if_else(pc.equal(ids, ""), None, ids)).as_py())
    if not dates:
        return n, None
    dates = table.column(1)
    if is_native_date(dates):
        days = native_days(dates)
    else:
        values, codes = distinct_values(dates)
        counts = np.bincount(codes, minlength=len(values))
        days = parse_dates(values, counts, column=cols["event_date"], decided=formats.get("date")).days
    finite = days[np.isfinite(days)]
    return n, (int(finite.max()) if len(finite) else None)


def load_shards(
    paths: list[Path],
    *,
    columns: dict[str, str],
    formats: dict[str, str],
    source: str,
    duplicates: str = "warn",
) -> EventLog:
    """The EventLog of a group of shards, parsed with the file-wide ``columns`` and ``formats`` (date format, decimal style)."""
    table = pa.concat_tables([_read_shard(p) for p in paths])
    rows = table.column(ROW_COLUMN).to_numpy()
    return from_table(
        table.drop_columns([ROW_COLUMN]),
        source=source,
        column_mapping=columns,
        formats=formats,
        row_numbers=rows,
        duplicates=duplicates,
    )
