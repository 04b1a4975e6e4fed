"""Reading's fast paths give what the plain numpy and pandas calls they replace gave (issue 16):
the duplicate-row check, the day order and the customers kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from ml_pipeline.data.eventlog import _duplicates, _used_codes, day_order, event_keys, shared_keys


def _columns(n: int, seed: int) -> dict[str, np.ndarray]:
    """Normalized event columns drawn from few values, so equal rows are common."""
    rng = np.random.default_rng(seed)
    amount = rng.choice([0.0, -0.0, 1.5, -1.5, 10.0, np.nan], n)
    quantity = rng.choice([np.nan, 1.0, 2.0, -0.0, 0.0], n)
    return {
        "customer": rng.integers(0, 30, n).astype(np.int32),
        "day": rng.integers(-3, 4, n).astype(np.int32),  # days before 1970 too
        "amount": amount,
        "etype": rng.integers(0, 3, n).astype(np.int16),
        "category": rng.integers(-1, 2, n).astype(np.int16),
        "quantity": quantity,
    }


def _reference(table: pa.Table, rows: np.ndarray, columns: dict[str, np.ndarray]) -> np.ndarray:
    """The check as it was written before (issue 16): pandas over every normalized column, then
    every raw column of the candidate customers' rows."""
    normalized = pd.DataFrame(columns).duplicated().to_numpy()
    if not normalized.any():
        return normalized
    candidates = np.flatnonzero(np.isin(columns["customer"], np.unique(columns["customer"][normalized])))
    raw = table.take(pa.array(rows[candidates])).to_pandas()
    dup = np.zeros(len(rows), dtype=bool)
    dup[candidates] = raw.duplicated().to_numpy()
    return dup


@pytest.mark.parametrize("seed", range(6))
def test_same_rows_as_the_column_by_column_comparison(seed):
    n = 3000
    columns = _columns(n, seed)
    rng = np.random.default_rng(100 + seed)
    # The raw table holds what every normalized column was read from, and a column the
    # normalized ones do not hold (a stock code): normalized duplicates that differ in it are
    # not duplicates.
    raw = pa.table(
        {
            **{k: pa.array(v.astype(str)) for k, v in columns.items()},
            "stock": pa.array(rng.choice(["a", "b"], n)),
        }
    )
    rows = np.arange(n)
    expected = _reference(raw, rows, columns)
    got = _duplicates(raw, rows, columns)
    assert expected.any() and not expected.all()
    np.testing.assert_array_equal(got, expected)


def test_rows_of_a_larger_table():
    n = 2000
    columns = _columns(n, 7)
    rows = np.sort(np.random.default_rng(8).choice(n + 500, n, replace=False))  # dropped rows between
    # The raw table holds each kept row's normalized values, and other rows between them.
    arrays = {k: np.zeros(n + 500, dtype=v.dtype) for k, v in columns.items()}
    for k, v in columns.items():
        arrays[k][rows] = v
    raw = pa.table(arrays)
    np.testing.assert_array_equal(_duplicates(raw, rows, columns), _reference(raw, rows, columns))


def test_no_duplicates():
    columns = {
        "customer": np.arange(100, dtype=np.int32),
        "day": np.zeros(100, dtype=np.int32),
        "amount": np.zeros(100),
        "etype": np.zeros(100, dtype=np.int16),
        "category": np.full(100, -1, dtype=np.int16),
        "quantity": np.full(100, np.nan),
    }
    raw = pa.table({"c": pa.array(np.arange(100))})
    assert not _duplicates(raw, np.arange(100), columns).any()


def test_equal_events_share_a_key():
    columns = _columns(500, 3)
    keys = event_keys(columns)
    groups = pd.DataFrame({k: columns[k] for k in ("customer", "day", "etype", "amount")}).groupby(
        ["customer", "day", "etype", "amount"], dropna=False
    )
    for _, index in groups.indices.items():
        assert len(set(keys[index].tolist())) == 1


@pytest.mark.parametrize("seed", range(4))
def test_shared_keys_as_pandas_finds_them(seed):
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, 2**63, 50_000, dtype=np.int64).astype(np.uint64)
    keys[rng.integers(0, len(keys), 300)] = keys[rng.integers(0, len(keys), 300)]
    # Keys equal in their low 16 bits only: the cheap table lets them through, the lookup not.
    keys[:50] = (keys[50:100] & ~np.uint64(0xFFFF)) ^ np.uint64(1 << 40) | (keys[:50] & np.uint64(0xFFFF))
    expected = pd.Series(keys).duplicated(keep=False).to_numpy()
    np.testing.assert_array_equal(shared_keys(keys), expected)
    assert not shared_keys(np.arange(10, dtype=np.uint64)).any()


@pytest.mark.parametrize("span", [1, 730, 65_535, 65_536, 200_000])
def test_day_order_is_the_stable_argsort(span):
    rng = np.random.default_rng(span)
    day = (rng.integers(0, span, 20_000) - 400).astype(np.int32)  # before 1970 too
    day[:2] = [-400, span - 401]  # the whole span
    np.testing.assert_array_equal(day_order(day), np.argsort(day, kind="stable"))
    assert len(day_order(np.zeros(0, dtype=np.int32))) == 0


@pytest.mark.parametrize("k", [1, 50, 1000])
def test_used_codes_as_unique(k):
    codes = np.random.default_rng(k).integers(0, k, 700).astype(np.int32)
    used, inverse = _used_codes(codes, k + 3)
    expected_used, expected_inverse = np.unique(codes, return_inverse=True)
    np.testing.assert_array_equal(used, expected_used)
    np.testing.assert_array_equal(inverse, expected_inverse)
    every = np.arange(k, dtype=np.int32)
    np.testing.assert_array_equal(_used_codes(every, k)[1], every)
