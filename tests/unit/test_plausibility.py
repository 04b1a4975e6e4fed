"""Implausible values: flagged by row, left out of the as-of date, and not steering the forecasts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_pipeline.cli import main
from ml_pipeline.data.days import check_as_of, date_to_day
from ml_pipeline.data.eventlog import from_frame, load_events
from ml_pipeline.data.plausibility import PLAUSIBLE_UNTIL, last_plausible_day
from ml_pipeline.data.sharding import load_shards, shard_file
from ml_pipeline.serving.bundle import load_bundle
from ml_pipeline.serving.scoring import predict

CASES = Path(__file__).resolve().parents[1] / "cases"  # a copy of the project's shared cases


def _profile(path: Path, capsys) -> dict:
    assert main(["profile", "--events", str(path)]) == 0
    return json.loads(capsys.readouterr().out)


def _edited(src: Path, dst: Path, row: int, new_line: str | None) -> Path:
    """``src`` with file row ``row`` (header = row 1) replaced by ``new_line``, or removed (None)."""
    lines = src.read_text().splitlines()
    if new_line is None:
        del lines[row - 1]
    else:
        lines[row - 1] = new_line
    dst.write_text("\n".join(lines) + "\n")
    return dst


def _train_predict(train_on: Path, predict_on: list[Path], tmp: Path) -> list[pd.DataFrame]:
    model = tmp / f"model-{train_on.stem}"
    args = ["--quiet", "--models", "lightgbm", "--cutoffs", "6"]
    assert main(["train", "--events", str(train_on), "--out", str(model), *args]) == 0
    frames = []
    for i, path in enumerate(predict_on):
        out = tmp / f"pred-{train_on.stem}-{i}.csv"
        cmd = [
            "predict",
            "--model",
            str(model),
            "--events",
            str(path),
            "--out",
            str(out),
            "--reasons",
            "none",
        ]
        assert main([*cmd, "--quiet"]) == 0
        frames.append(pd.read_csv(out, dtype={"customer_id": str}).set_index("customer_id"))
    return frames


# --- dates -----------------------------------------------------------------------------------


def test_min_future_typo_is_flagged_by_row_and_left_out_of_the_as_of(capsys):
    prof = _profile(CASES / "08_min.csv", capsys)
    assert any("row 4" in w and "2033-01-07" in w for w in prof["warnings"])
    assert prof["implausible_rows"] == [
        {"row": 4, "column": "event_date", "value": "2033-01-07", "used": None}
    ]
    assert prof["last_date"] == "2023-01-06" and prof["rows"] == 2
    log = load_events(CASES / "08_min.csv")
    assert check_as_of(log.day, None) == date_to_day("2023-01-07")


def test_future_typo_leaves_the_as_of_and_the_other_forecasts_unchanged(tmp_path, capsys):
    path = CASES / "08_future_typo_date.csv"
    log = load_events(path)
    assert any("row 2265" in w for w in log.warnings)
    assert check_as_of(log.day, None) == date_to_day("2024-01-01")  # the day after the last 2023 event
    without = _edited(path, tmp_path / "without.csv", 2265, None)
    with_row, without_row = _train_predict(without, [path, without], tmp_path)
    pd.testing.assert_frame_equal(with_row, without_row)

    # A bulk partition whose only rows are left out (as decided for the whole file) scores nobody.
    only_typo = pd.DataFrame({"customer_id": ["Z"], "event_date": ["2033-05-05"], "amount": ["10"]})
    empty = from_frame(only_typo, formats={"date": "YYYY-MM-DD", PLAUSIBLE_UNTIL: "2023-12-31"})
    assert empty.n_events == 0 and "row 2 (2033-05-05)" in empty.warnings[0]
    bundle = load_bundle(tmp_path / "model-without")
    frame = predict(bundle, empty, as_of=date_to_day("2024-01-01"))
    assert frame.empty and list(frame.columns)[:4] == [
        "customer_id",
        "churn_probability",
        "risk_segment",
        "spend_total",
    ]


def test_bulk_split_agrees_with_the_whole_file_on_the_last_day(tmp_path):
    path = CASES / "08_future_typo_date.csv"
    shards = shard_file(path, tmp_path, n_shards=5, batch_rows=300)
    whole = load_events(path)
    assert shards.last_day == int(whole.day[-1]) == date_to_day("2023-12-31")
    logs = [
        load_shards([shards.paths[i] for i in g], columns=shards.columns, formats=shards.formats, source="f")
        for g in shards.groups(40)
    ]
    assert sum(p.n_events for p in logs) == whole.n_events
    assert max(int(p.day[-1]) for p in logs) == shards.last_day
    assert sum("row 2265" in w for p in logs for w in p.warnings) == 1


def test_bulk_split_without_a_date_pool_agrees_too(tmp_path, monkeypatch):
    import ml_pipeline.data.sharding as sharding

    monkeypatch.setattr(sharding, "_DATE_POOL_MAX", 1)  # per-shard scan, as for timestamps
    rows = [f"c{i % 7},2020-03-{1 + i % 28:02d},{10 + i}" for i in range(300)] + ["c1,2030-03-02,12"]
    path = tmp_path / "e.csv"
    path.write_text("customer_id,event_date,amount\n" + "\n".join(rows) + "\n")
    (tmp_path / "s").mkdir()
    shards = shard_file(path, tmp_path / "s", n_shards=3, batch_rows=50)
    assert shards.last_day == int(load_events(path).day[-1]) == date_to_day("2020-03-28")


def test_a_year_typed_wrong_in_an_old_log_is_caught_by_the_gap():
    # A 2013 log analysed today: a 2023 typo is not in the future, but a decade after the rest.
    days = np.arange(date_to_day("2012-01-01"), date_to_day("2013-12-31"))
    days = np.append(days, date_to_day("2023-06-01"))
    counts = np.full(len(days), 5)
    counts[-1] = 1
    assert last_plausible_day(days, counts) == date_to_day("2013-12-30")


def test_real_gaps_and_many_future_rows_are_kept(log_from_rows):
    days = np.array([0, 30, 60, 400, 430])  # a shop closed for a season: gaps of 30 and 340 days
    assert last_plausible_day(days, np.ones(5, int), today=10_000) is None
    # after a 2-year break, half the events: a new period, not a typo
    assert last_plausible_day(np.array([0, 1, 800, 801]), np.array([10, 10, 10, 10]), today=10_000) is None
    # 40% of the events after today: a clock or a schedule; kept, with a warning
    rows = [("a", f"2020-01-{d:02d}", 10.0, None, None) for d in range(1, 7)]
    rows += [("b", f"2099-01-{d:02d}", 10.0, None, None) for d in range(1, 5)]
    log = log_from_rows(rows)
    assert log.n_events == 10
    assert any("dated after today" in w for w in log.warnings)


# --- amounts ---------------------------------------------------------------------------------


def test_huge_outlier_is_named_and_does_not_drive_the_forecasts(tmp_path, capsys):
    path = CASES / "17_single_huge_outlier.csv"
    prof = _profile(path, capsys)
    assert any("row 839" in w and "C1034" in w for w in prof["warnings"])
    assert prof["implausible_rows"][0]["row"] == 839 and prof["implausible_rows"][0]["value"] == 1_250_000
    assert prof["amount_total"] - prof["amount_total_used"] == pytest.approx(1_250_000 - 119.93, abs=0.01)
    edited = _edited(path, tmp_path / "edited.csv", 839, "C1034,2023-07-13,125.0")
    (raw,) = _train_predict(path, [path], tmp_path)
    (ref,) = _train_predict(edited, [edited], tmp_path)
    c1034, c1034_ref = raw.loc["C1034", "spend_total"], ref.loc["C1034", "spend_total"]
    # With the default training (all model types, 12 cutoffs) C1034 gets 587 vs 588 edited and the
    # book 7,526 vs 7,527 (81,082 and 87,621 without the screening); this quicker training gives
    # smaller numbers, so the test compares with the edited file and bounds the size only loosely.
    assert c1034 == pytest.approx(c1034_ref, rel=0.15)
    assert c1034 < 2_000  # not tens of thousands
    assert raw["spend_total"].sum() == pytest.approx(ref["spend_total"].sum(), rel=0.15)
    assert 7_500 / 2 < raw["spend_total"].sum() < 7_500 * 1.5


def test_outlier_refund_nets_with_its_purchase_and_lone_customers_use_the_log(log_from_rows):
    rows = [(f"c{i}", f"2021-0{1 + i % 9}-1{i % 10}", 20.0 + i % 7, None, None) for i in range(300)]
    rows += [("big", f"2021-03-0{d}", 100.0, None, None) for d in range(1, 6)]
    rows += [
        ("big", "2021-04-01", 1_000_000.0, None, None),
        ("big", "2021-04-02", -1_000_000.0, "refund", None),
    ]
    rows += [("lone", "2021-05-01", 5_000_000.0, None, None)]
    log = log_from_rows(rows)
    frame = log.to_frame()
    big = frame[frame.customer_id == "big"].amount
    assert big.max() == 100.0 and big.sum() == 500.0  # the pair counts ±100: still netted
    lone = frame[frame.customer_id == "lone"].amount.iloc[0]
    assert lone < 30  # the log's median purchase
    assert log.info["implausible"]["amounts_replaced"] == 3
    assert any("3 amount(s)" in w for w in log.warnings)


def test_large_but_ordinary_amounts_are_not_flagged(log_from_rows):
    # A customer's yearly gift at 50x their usual, and the log's biggest spender, are real.
    rows = [(f"c{i}", f"2021-0{1 + i % 9}-1{i % 10}", 20.0 + i % 7, None, None) for i in range(300)]
    rows += [("gift", f"2021-0{m}-01", 10.0, None, None) for m in range(1, 8)] + [
        ("gift", "2021-12-20", 500.0, None, None)
    ]
    rows += [("b2b", f"2021-0{m}-01", 50_000.0, None, None) for m in range(1, 8)]
    log = log_from_rows(rows)
    assert log.info["implausible"]["amounts_replaced"] == 0
    assert not log.warnings


# --- real and synthetic logs -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cdnow", "completejourney_8451"])
def test_real_logs_are_not_flagged(name, shared_log):
    path = shared_log(name)
    log = load_events(path)
    assert log.info["implausible"]["dates_left_out"] == 0
    assert log.info["implausible"]["amounts_replaced"] == 0


def test_synthetic_logs_are_not_flagged(small_log_frame):
    log = from_frame(small_log_frame)
    assert log.info["implausible"] == {
        "dates_left_out": 0,
        "amounts_replaced": 0,
        "amount_delta": 0.0,
        "refund_delta": 0.0,
        "rows": [],
    }
