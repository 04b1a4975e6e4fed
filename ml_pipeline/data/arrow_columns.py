"""Arrow column helpers shared by the normalization and the sharding: distinct values, typed columns.

Work on a column is done on its distinct values (a dictionary encoding), then spread back to
the rows by their codes, so strings are parsed once per value rather than once per row.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ml_pipeline.data.days import EPOCH


def distinct_values(col: pa.ChunkedArray) -> tuple[pd.Series, np.ndarray]:
    """Distinct string values and, per row, the index of its value.

    Returns (values: a "string" Series of k distinct values, <NA> for nulls; codes: int64 array of
    n rows, each in [0, k)).
    """
    encoded = pc.dictionary_encode(col.cast(pa.string()), null_encoding="encode").combine_chunks()
    values = encoded.dictionary.to_pandas().astype("string")
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return values, codes


def row_locator(
    values: pd.Series, codes: np.ndarray, row_of: Callable[[int], int]
) -> Callable[[object], int]:
    """value -> the file row of its first occurrence (``row_of`` maps a table index to a row).

    A missing value is looked up as ""; a value not among ``values`` gives the first row. Each
    lookup is a vectorized search: a dictionary of every value cost 1.5 s of a 10M-row split,
    where a few examples per batch are asked for.
    """

    def row(value) -> int:
        hits = np.flatnonzero((values.fillna("") == value).to_numpy(dtype=bool, na_value=False))
        return row_of(int(np.argmax(codes == (hits[-1] if len(hits) else -1))))

    return row


def is_native_date(col: pa.ChunkedArray) -> bool:
    """A typed date or timestamp column (Parquet, Arrow), read without parsing text."""
    return pa.types.is_timestamp(col.type) or pa.types.is_date(col.type)


def native_days(col: pa.ChunkedArray) -> np.ndarray:
    """Days since 1970-01-01 of a typed date column (float64 per row), NaN where empty."""
    arr = col.cast(pa.timestamp("s")).to_numpy().astype("datetime64[D]")
    days = (arr - EPOCH).astype("float64")
    days[np.isnat(arr)] = np.nan
    return days


def is_numeric(col: pa.ChunkedArray) -> bool:
    """A typed integer or floating-point column (read as numbers, not parsed from text)."""
    return pa.types.is_integer(col.type) or pa.types.is_floating(col.type)
