"""Reading event logs: files of any supported kind in, a normalized EventLog out.

options (ReadOptions: every reading choice, named as the CLI flag and the API field), readers
(sniffing, CSV/Excel/Parquet), encodings (decided on the whole file), columns (header aliases), parsing (dates, amounts), days
(the date unit), arrow_columns (distinct values of a raw column), normalize (a raw table's columns
checked and coded, one step per kind; the event-type vocabulary), eventlog (the normalized arrays
and their builders), plausibility (dates far after the rest left out, amounts orders of magnitude
above the usual tamed, each named by row), sharding (a file split by customer), profiling, synthetic (generated logs).
"""

from ml_pipeline.data.columns import resolve_columns
from ml_pipeline.data.days import as_of_after, check_as_of, date_to_day, day_to_date
from ml_pipeline.data.eventlog import (
    DUPLICATE_POLICIES,
    PURCHASE,
    REFUND,
    EventLog,
    from_frame,
    from_records,
    load_events,
)
from ml_pipeline.data.options import ReadOptions, api_wording, parse_pairs
from ml_pipeline.data.profiling import profile
from ml_pipeline.data.readers import write_csv_atomic
from ml_pipeline.data.sharding import Shards, load_shards, shard_file
from ml_pipeline.data.synthetic import generate_events, write_events

__all__ = [
    "DUPLICATE_POLICIES",
    "PURCHASE",
    "REFUND",
    "ReadOptions",
    "EventLog",
    "Shards",
    "api_wording",
    "as_of_after",
    "check_as_of",
    "date_to_day",
    "day_to_date",
    "from_frame",
    "from_records",
    "generate_events",
    "load_events",
    "load_shards",
    "parse_pairs",
    "profile",
    "resolve_columns",
    "shard_file",
    "write_csv_atomic",
    "write_events",
]
