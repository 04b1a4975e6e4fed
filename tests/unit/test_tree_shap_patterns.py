"""The path patterns of tree SHAP are coded as pandas' factorize codes them (issue 16's faster
coding keeps every table row, and so every contribution, where it was)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_pipeline.models.tree_shap import TreeSplits, pattern_codes


@pytest.mark.parametrize("n", [1, 2, 999, 50_000])
@pytest.mark.parametrize("dtype", [np.uint16, np.uint32, np.uint64])
def test_codes_and_first_rows_are_factorizes(n, dtype):
    rng = np.random.default_rng(n)
    patterns = (rng.integers(0, 400, n) * 131).astype(dtype)
    codes, first = pattern_codes(patterns, np.arange(n - 1, -1, -1))
    expected, uniques = pd.factorize(patterns)
    np.testing.assert_array_equal(codes, expected)
    np.testing.assert_array_equal(first, [np.flatnonzero(patterns == u)[0] for u in uniques])


@pytest.mark.parametrize("k_splits", [3, 16, 17, 40])
def test_patterns_hold_the_side_of_every_split(k_splits):
    rng = np.random.default_rng(k_splits)
    columns = rng.standard_normal((5, 300)).astype(np.float32)
    columns[1, ::7] = np.nan
    columns[2, ::5] = 0.0
    splits = TreeSplits(
        feature=rng.integers(0, 5, k_splits),
        threshold=rng.standard_normal(k_splits).astype(np.float32),
        strict=False,
        nan_left=rng.random(k_splits) < 0.5,
        zero_left=rng.integers(-1, 2, k_splits).astype(np.int8),
    )
    nan_rows = {1: np.flatnonzero(np.isnan(columns[1]))}
    bits = splits.patterns(columns, nan_rows)
    assert bits.dtype == (np.uint16 if k_splits <= 16 else np.uint32 if k_splits <= 32 else np.uint64)
    for k, (f, t) in enumerate(zip(splits.feature, splits.threshold)):
        x = columns[f]
        left = x <= t
        left[np.isnan(x)] = splits.nan_left[k]
        if splits.zero_left[k] >= 0:
            left[(x == 0) | np.isnan(x)] = bool(splits.zero_left[k])
        np.testing.assert_array_equal((bits >> np.uint64(k)).astype(np.uint64) & np.uint64(1), left)
