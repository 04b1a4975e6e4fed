"""The CSV writer writes what pandas' ``to_csv(index=False)`` writes, byte for byte."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_pipeline.data.writing import write_frame_csv


def _same_as_pandas(frame: pd.DataFrame, tmp_path, block_rows: int = 100_000) -> bytes:
    ours, theirs = tmp_path / "ours.csv", tmp_path / "pandas.csv"
    write_frame_csv(frame, ours, block_rows=block_rows)
    frame.to_csv(theirs, index=False, encoding="utf-8")
    assert ours.read_bytes() == theirs.read_bytes()
    return ours.read_bytes()


def _floats(n: int, seed: int) -> np.ndarray:
    """Values of every magnitude and the special ones, some rounded as predictions are."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) * 10.0 ** rng.integers(-12, 22, n)
    x[::7] = np.round(x[::7], 2)
    x[::11] = np.round(rng.random(len(x[::11])), 4)
    x[::13] = np.trunc(x[::13])
    special = [
        0.0,
        -0.0,
        np.nan,
        np.inf,
        -np.inf,
        1e-4,
        9.9999e-5,
        1e9,
        999999999.99,
        1e16,
        5e-324,
        1.7976931348623157e308,
    ]
    x[: len(special)] = special
    return x


@pytest.mark.parametrize("block_rows", [100_000, 7])
def test_predictions_frame(tmp_path, block_rows):
    n = 5000
    rng = np.random.default_rng(1)
    reasons = np.array(
        ["", "no purchase for 64 days, 3.0x the usual gap of 21 days", 'said "hi"', "a\nb", "é; ü", "x\ry"],
        dtype=object,
    )
    frame = pd.DataFrame(
        {
            "customer_id": np.array([f"C{i:07d}" for i in range(n)], dtype=object),
            "churn_probability": np.round(rng.random(n), 4),
            "risk_segment": np.array(["Low", "Medium", "High", "Critical"], dtype=object)[
                rng.integers(0, 4, n)
            ],
            "spend_total": _floats(n, 2),
            "count": rng.integers(-5, 10**12, n),
            "reasons": reasons[rng.integers(0, len(reasons), n)],
        }
    )
    _same_as_pandas(frame, tmp_path, block_rows)


@pytest.mark.parametrize("seed", range(3))
def test_floats_of_every_magnitude(tmp_path, seed):
    frame = pd.DataFrame({"a": _floats(20_000, seed), "b": _floats(20_000, seed + 10)})
    _same_as_pandas(frame, tmp_path)


def test_text_that_needs_quotes_and_missing_values(tmp_path):
    cells = [
        "",
        "plain",
        "a,b",
        'q"x',
        "line\nbreak",
        "cr\r",
        "tab\t",
        " lead",
        "semi;colon",
        "'",
        "\x00",
        "\u2028",
        "ü",
    ]
    frame = pd.DataFrame(
        {
            "obj": np.array(cells + [None, np.nan], dtype=object),
            "str": pd.array(cells + [None, None], dtype="string"),
            "x,y": np.arange(len(cells) + 2, dtype=np.float64),
        }
    )
    assert b'"x,y"' in _same_as_pandas(frame, tmp_path)


def test_other_kinds_and_shapes_are_left_to_pandas(tmp_path):
    _same_as_pandas(pd.DataFrame({"d": pd.to_datetime(["2024-01-01", None]), "b": [True, False]}), tmp_path)
    _same_as_pandas(pd.DataFrame({"only": ["", "a"]}), tmp_path)  # one column: "" is quoted
    _same_as_pandas(pd.DataFrame({"m": np.array([1, "a"], dtype=object), "n": [1.0, 2.0]}), tmp_path)
    _same_as_pandas(
        pd.DataFrame({"a": pd.Series([], dtype=object), "b": pd.Series([], dtype=float)}), tmp_path
    )
