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
from dataclasses import dataclass, field, replace
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
from ml_pipeline.data.columns import OPTIONAL, resolve_columns
from ml_pipeline.data.days import day_to_date
from ml_pipeline.data.eventlog import EventLog, from_table
from ml_pipeline.data.normalize import (
    BadRows,
    cancellation_marks,
    canonical_ids,
    event_type_key,
    id_text,
    is_status_vocabulary,
    skip_blank_and_header_rows,
)
from ml_pipeline.data.options import ReadOptions
from ml_pipeline.data.parsing import (
    AmountEvidence,
    DateEvidence,
    amount_evidence,
    date_evidence,
    decide_date_format,
    parse_dates,
)
from ml_pipeline.data.plausibility import PLAUSIBLE_UNTIL, last_plausible_day
from ml_pipeline.data.readers import EncodingSwitch, RawStream, with_sheet_hint
from ml_pipeline.errors import EventLogError

ROW_COLUMN = "__row"  # the row's number in the original file (header = row 1)
BYTES_PER_SHARD = 4 << 20  # of uncompressed text; ~100k events
_COMPRESSION = {"gzip": 6, "xlsx": 6, "parquet": 4, "text": 1}
# Shards are Arrow IPC files: appending a batch costs next to nothing (Parquet spent seconds on
# thousands of small row groups); LZ4 keeps them about the size of the gzip upload.
_IPC = pa.ipc.IpcWriteOptions(compression="lz4")
_DATE_POOL_MAX = 200_000
_PLAIN_NUMBER = r"[+-]?[0-9]*\.?[0-9]*"  # ASCII digits with at most one point (_add_amounts)


def _read_shard(path: Path) -> pa.Table:
    with pa.ipc.open_file(path) as reader:
        return reader.read_all()


@dataclass
class Shards:
    """A file split by customer: shard files, their customer counts and the file-wide formats."""

    paths: list[Path]
    customers: list[int]  # distinct non-empty customer ids per shard
    rows: int
    last_day: int | None  # the latest plausible readable event day in the file
    columns: dict[str, str]  # canonical field -> the file's header
    # {"date": format, "amount": "comma" | "dot"} for text columns, and PLAUSIBLE_UNTIL: the ISO
    # date of last_day, after which a partition leaves rows out as implausible
    formats: dict[str, str]
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
    options: ReadOptions | None = None,
    n_shards: int | None = None,
    batch_rows: int = 100_000,
    max_inflated_mb: float | None = None,
) -> Shards:
    """Split ``path`` into Arrow shards under ``out_dir`` by a stable hash of the customer id.

    ``options`` says how to read the file, as for :func:`~ml_pipeline.data.eventlog.load_events`.
    Memory is bounded by ``batch_rows``, not by the file. ``last_day`` leaves out dates far after
    the rest, as reading the file whole does (:mod:`ml_pipeline.data.plausibility`). Raises
    EventLogError for a file that cannot be read, lacks the required columns, or mixes date or
    number formats, or a compressed file whose contents pass ``max_inflated_mb`` MB (None: no
    limit).
    """
    path, out_dir = Path(path), Path(out_dir)
    options = options or ReadOptions()
    read = partial(_shard_stream, batch_rows=batch_rows, max_inflated_mb=max_inflated_mb)
    try:
        return read(path, out_dir, options, n_shards)
    except EncodingSwitch as switch:
        # A byte that is not UTF-8 turned up after some batches were written: start again with
        # the encoding the whole file shows.
        for p in out_dir.glob("shard-*.arrow"):
            p.unlink()
        shards = read(path, out_dir, replace(options, encoding=switch.encoding), n_shards)
        shards.warnings.insert(0, switch.warning)
        return shards


def _shard_stream(
    path: Path,
    out_dir: Path,
    options: ReadOptions,
    n_shards: int | None,
    *,
    batch_rows: int,
    max_inflated_mb: float | None,
) -> Shards:
    stream = RawStream(
        path,
        sheet=options.sheet,
        encoding=options.encoding,
        batch_rows=batch_rows,
        max_inflated_mb=max_inflated_mb,
    )
    n_shards = n_shards or shard_count(path, stream.kind)
    cols: dict[str, str] = {}
    warnings: list[str] = []
    evidence = _FormatEvidence()
    left_out = _LeftOut()
    rows = 0
    with _ShardWriters(out_dir, n_shards) as writers:
        for table in stream:
            if not cols:
                try:
                    cols, warnings = resolve_columns(table.column_names, options.column_mapping)
                except EventLogError as exc:
                    raise with_sheet_hint(exc, stream.warnings) from exc
            if table.num_rows == 0:
                continue
            numbers = np.arange(rows + 2, rows + 2 + table.num_rows)
            rows += table.num_rows
            # The distinct ids, found once per batch for the left-out rows and the shard hash.
            ids, codes = distinct_values(id_text(table.column(cols["customer_id"])))
            table, numbers, codes = left_out.drop(table, cols, numbers, (ids, codes))
            if table.num_rows == 0:
                continue
            shard = _shard_of_ids(ids, codes, n_shards)
            evidence.add(table, cols, numbers)
            writers.write(table, shard, numbers)
    if rows == 0:
        raise EventLogError(f"{path.name}: the file has a header but no data rows")
    formats = evidence.formats(cols, options.max_bad_share, options)
    customers, last_day = _customers_and_last_day(writers.paths, cols, formats, evidence)
    if last_day is not None:
        formats[PLAUSIBLE_UNTIL] = day_to_date(last_day)
    return Shards(
        paths=writers.paths,
        customers=customers,
        rows=rows,
        last_day=last_day,
        columns=cols,
        formats=formats,
        source_format=stream.source_format,
        warnings=[*stream.warnings, *warnings, *left_out.notes()],
    )


class _LeftOut:
    """Blank rows and repeated headers, taken out before sharding (a shard of nothing but blank
    rows would be refused), with the same notes as reading the whole file gives."""

    def __init__(self) -> None:
        self.counts: dict[str, list[int]] = {}  # message -> [rows, first row]

    def drop(
        self, table: pa.Table, cols: dict[str, str], numbers: np.ndarray, ids: tuple[pd.Series, np.ndarray]
    ) -> tuple[pa.Table, np.ndarray, np.ndarray]:
        """(the table without its left-out rows, their file row numbers, their id codes);
        ``ids``: the batch's distinct customer ids and the code of each row."""
        bad = BadRows(table.num_rows, numbers)
        skip_blank_and_header_rows(table, cols, bad, ids)
        codes = ids[1]
        if not bad.skipped.any():
            return table, numbers, codes
        for message, first, k in bad.skip_notes:
            seen = self.counts.setdefault(message, [0, bad.row(first)])
            seen[0] += k
        keep = ~bad.skipped
        return table.filter(pa.array(keep)), numbers[keep], codes[keep]

    def notes(self) -> list[str]:
        return [f"left out {k} row(s): {m} (first in row {first})" for m, (k, first) in self.counts.items()]


def _shard_of_ids(ids: pd.Series, codes: np.ndarray, n_shards: int) -> np.ndarray:
    """Shard (int64 in [0, n_shards)) per row: a stable hash of its customer id as the
    normalization reads it (stripped; 12046.0 is 12046, so both land in one shard).

    ``ids`` are the batch's distinct ids and ``codes`` (rows,) each row's index into them; each
    distinct id is hashed once (pandas' hash_array, the same in every process and run).
    """
    canonical = canonical_ids(ids.fillna("").str.strip())
    hashed = pd.util.hash_array(canonical.to_numpy(dtype=object), categorize=False)
    return (hashed % np.uint64(n_shards)).astype(np.int64)[codes]


class _ShardWriters:
    """One Arrow IPC file per shard, opened on the first batch with rows for that shard."""

    def __init__(self, out_dir: Path, n_shards: int):
        self.out_dir, self.n_shards = out_dir, n_shards
        self.writers: dict[int, pa.ipc.RecordBatchFileWriter] = {}

    def __enter__(self) -> _ShardWriters:
        return self

    def __exit__(self, *exc) -> None:
        for w in self.writers.values():
            w.close()

    @property
    def paths(self) -> list[Path]:
        """The written shard files, in shard order."""
        return [self._path(s) for s in sorted(self.writers)]

    def _path(self, shard: int) -> Path:
        return self.out_dir / f"shard-{shard:05d}.arrow"

    def write(self, table: pa.Table, shard: np.ndarray, rows: np.ndarray) -> None:
        """Append each row of ``table`` to the file of its ``shard`` (int per row), in order.

        Each row carries its number in the file (``rows``, int per row) in ROW_COLUMN.
        """
        table = table.append_column(ROW_COLUMN, pa.array(rows))
        order = np.argsort(shard, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(shard, minlength=self.n_shards))])
        table = table.take(pa.array(order))
        for s in np.flatnonzero(np.diff(bounds)):
            if s not in self.writers:
                self.writers[s] = pa.ipc.new_file(self._path(s), table.schema, options=_IPC)
            self.writers[s].write_table(table.slice(bounds[s], bounds[s + 1] - bounds[s]))


def _row_number(numbers: np.ndarray, index: int) -> int:
    return int(numbers[index])


class _FormatEvidence:
    """What the text date and amount columns show about their formats, gathered batch by batch."""

    def __init__(self) -> None:
        self.dates, self.amounts = DateEvidence(), AmountEvidence()
        self.event_keys: set[str] = set()  # distinct event types as keys (a few dozen at most)
        self.order_ids = {"prefixed": False, "numeric": False}  # C123 and 123 invoice numbers seen
        # Distinct date strings of the whole file with their row counts, while there are few
        # (dates without a time of day); the last plausible day then comes from them instead of
        # a second pass over the shards.
        self.date_pool: pa.Table | None = pa.table(
            {"v": pa.array([], pa.string()), "n": pa.array([], pa.int64())}
        )

    def add(self, table: pa.Table, cols: dict[str, str], numbers: np.ndarray) -> None:
        """Merge in one batch whose rows are rows ``numbers`` (int per row) of the file."""
        row_of = partial(_row_number, numbers)  # table index -> row in the file
        dates = table.column(cols["event_date"])
        if not is_native_date(dates):
            self._add_dates(dates, row_of)
        if "amount" in cols and not is_numeric(table.column(cols["amount"])) and not self.amounts.both():
            self._add_amounts(table.column(cols["amount"]), row_of)
        if "event_type" in cols and len(self.event_keys) < 10_000:
            values, _ = distinct_values(table.column(cols["event_type"]))
            self.event_keys.update(event_type_key(v) for v in values.fillna(""))
        if "order_id" in cols and not all(self.order_ids.values()):
            cancel, numeric = cancellation_marks(distinct_values(table.column(cols["order_id"]))[0])
            self.order_ids["prefixed"] |= bool(cancel.any())
            self.order_ids["numeric"] |= numeric

    def _add_dates(self, dates: pa.ChunkedArray, row_of) -> None:
        values, codes = distinct_values(dates)
        counts = np.bincount(codes, minlength=len(values))
        self.dates = self.dates.merge(date_evidence(values, counts, row_locator(values, codes, row_of)))
        if self.date_pool is not None:
            batch = pa.table({"v": pa.array(values, pa.string()), "n": pa.array(counts, pa.int64())})
            pool = pa.concat_tables([self.date_pool, batch]).group_by("v").aggregate([("n", "sum")])
            pool = pool.rename_columns(["v", "n"])
            self.date_pool = pool if pool.num_rows <= _DATE_POOL_MAX else None

    def _add_amounts(self, amounts: pa.ChunkedArray, row_of) -> None:
        values, codes = distinct_values(amounts)
        s = values.fillna("").str.strip()
        # A plain integer shows nothing about separators; anything else may.
        maybe = ~s.str.fullmatch(r"[+-]?\d*").to_numpy(bool)
        if self.amounts.dot:
            # Digits with at most one point can show only a decimal point, known already, or an
            # ambiguous 26.560, which a known decimal point settles: such values are skipped
            # (nearly every value of every later batch; they cost a fifth of a 10M-row split).
            maybe &= ~s.str.fullmatch(_PLAIN_NUMBER).to_numpy(dtype=bool, na_value=False)
        if maybe.any():
            self.amounts = self.amounts.merge(
                amount_evidence(values[maybe], row_locator(values, codes, row_of))
            )

    def formats(self, cols: dict[str, str], max_bad_share: float, options: ReadOptions) -> dict[str, str]:
        """The file-wide {"date": format, "amount": "comma" | "dot"} of its text columns.

        Formats the user gave in ``options`` win. Raises EventLogError for an ambiguous or mixed
        date column or mixed decimal styles.
        """
        formats = {}
        if options.date_format:
            formats["date"] = options.date_format
        elif self.dates.rows:
            formats["date"] = decide_date_format(
                self.dates, column=cols["event_date"], max_bad_share=max_bad_share
            )
        if "amount" in cols:
            formats["amount"] = options.decimal or self.amounts.decide(cols["amount"])
        if "event_type" in cols:
            formats["statuses"] = "yes" if is_status_vocabulary(sorted(self.event_keys)) else "no"
        if "order_id" in cols:
            formats["cancellations"] = "yes" if all(self.order_ids.values()) else "no"
        return formats

    def pooled(self) -> bool:
        """Whether every distinct date string of the file was kept (so the last day needs no shard)."""
        return self.date_pool is not None and self.dates.rows > 0

    def pooled_days(self, column: str, date_format: str) -> tuple[np.ndarray, np.ndarray]:
        """(readable days, rows on each) of the pooled date strings; see :func:`_day_counts`."""
        values = self.date_pool.column("v").to_pandas().astype("string")
        counts = self.date_pool.column("n").to_numpy()
        days = parse_dates(values, counts, column=column, decided=date_format).days
        return _day_counts(days, counts)


def _day_counts(days: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct readable days (int64, ascending) and the summed ``counts`` of each, from a day
    (float, NaN = unreadable) and a count per value."""
    ok = np.isfinite(days)
    out, inverse = np.unique(days[ok].astype(np.int64), return_inverse=True)
    return out, np.bincount(inverse, weights=counts[ok], minlength=len(out)).astype(np.int64)


def _last_day(days: np.ndarray, counts: np.ndarray) -> int | None:
    """The latest plausible day of distinct ``days`` with ``counts`` rows each (None: no day)."""
    if len(days) == 0:
        return None
    last = last_plausible_day(days, counts)
    return int(days[-1]) if last is None else last


def _customers_and_last_day(
    paths: list[Path], cols: dict[str, str], formats: dict[str, str], evidence: _FormatEvidence
) -> tuple[list[int], int | None]:
    """Distinct customers per shard and the file's latest plausible readable day (None when no
    date is readable)."""
    pooled = evidence.pooled()
    customers, days, counts = [], [], []
    for p in paths:
        n, shard_days = _scan_shard(p, cols, formats, dates=not pooled)
        customers.append(n)
        if shard_days is not None:
            days.append(shard_days[0])
            counts.append(shard_days[1])
    if pooled:
        return customers, _last_day(*evidence.pooled_days(cols["event_date"], formats["date"]))
    if not days:
        return customers, None
    # The same day may be in every shard: sum its counts over shards.
    return customers, _last_day(*_day_counts(np.concatenate(days).astype(float), np.concatenate(counts)))


def _scan_shard(
    path: Path, cols: dict[str, str], formats: dict[str, str], dates: bool
) -> tuple[int, tuple[np.ndarray, np.ndarray] | None]:
    """Distinct customers and (when ``dates``) the shard's readable days with their row counts."""
    table = _read_shard(path).select([cols["customer_id"], cols["event_date"]])
    ids, _ = distinct_values(pc.utf8_trim_whitespace(id_text(table.column(0))))
    n = int(canonical_ids(ids.dropna()).replace("", pd.NA).nunique())
    if not dates:
        return n, None
    dates = table.column(1)
    if is_native_date(dates):
        days = native_days(dates)
        counts = np.ones(len(days), np.int64)
    else:
        values, codes = distinct_values(dates)
        counts = np.bincount(codes, minlength=len(values))
        days = parse_dates(values, counts, column=cols["event_date"], decided=formats.get("date")).days
    return n, _day_counts(np.asarray(days, dtype=float), counts)


def load_shards(
    paths: list[Path],
    *,
    columns: dict[str, str],
    formats: dict[str, str],
    source: str,
    options: ReadOptions | None = None,
) -> EventLog:
    """The EventLog of a group of shards, parsed with the file-wide ``columns`` and ``formats``
    (date format, decimal style) and the rest of the upload's ``options``."""
    table = pa.concat_tables([_read_shard(p) for p in paths])
    rows = table.column(ROW_COLUMN).to_numpy()
    return from_table(
        table.drop_columns([ROW_COLUMN]),
        source=source,
        # The file-wide mapping holds in every shard: an optional field the file was read without
        # is declined (""), so no alias finds it again in a shard.
        options=replace(options or ReadOptions(), column_mapping={**dict.fromkeys(OPTIONAL, ""), **columns}),
        formats=formats,
        row_numbers=rows,
    )
