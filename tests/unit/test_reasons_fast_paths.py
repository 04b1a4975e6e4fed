"""The reasons' fast paths give the texts the plain per-row code gave (issue 16)."""

from __future__ import annotations

import numpy as np
import pytest

from ml_pipeline.explain import phrases
from ml_pipeline.explain.reasons import SEPARATOR, joined


@pytest.mark.parametrize(
    ("memoized", "plain"),
    [
        (phrases._int, lambda x: f"{x:,.0f}"),
        (phrases._money, lambda x: f"{x:,.2f}"),
        (phrases._days, lambda n: "1 day" if n == 1 else f"{n:,.0f} days"),
    ],
)
def test_kept_texts_are_the_formatted_ones(memoized, plain):
    # Zeros of both signs, NaN, whole numbers as int and float, and values seen twice.
    values = [0.0, -0.0, 0.0, float("nan"), 1, 1.0, 1.5, -2.25, 1234567.891, 2, 2.0, -0.0, 1e300]
    values += np.random.default_rng(0).standard_normal(500).round(3).tolist() * 2
    assert [memoized(v) for v in values] == [plain(v) for v in values]
    assert memoized(-0.0).startswith("-")


def test_kept_texts_start_again_past_the_limit(monkeypatch):
    monkeypatch.setattr(phrases, "_MEMO_LIMIT", 10)
    fmt = phrases._memo(lambda x: f"{x:.1f}")
    assert [fmt(float(i)) for i in range(1, 40)] == [f"{float(i):.1f}" for i in range(1, 40)]


@pytest.mark.parametrize("seed", range(4))
def test_joined_is_the_join_of_the_non_empty_parts(seed):
    rng = np.random.default_rng(seed)
    words = np.array(["", "a", "no purchase for 3 days", "b; c"], dtype=object)
    slots = [words[rng.integers(0, len(words), 1000)] for _ in range(3)]
    expected = [SEPARATOR.join(p for p in parts if p) for parts in zip(*slots)]
    assert joined(slots, 1000) == expected
    assert joined([], 3) == ["", "", ""]
