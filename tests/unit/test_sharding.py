"""Streaming a file into customer shards: same events as reading it whole, formats decided file-wide."""

from __future__ import annotations

import re

import numpy as np
import openpyxl
import pandas as pd
import pytest

from ml_pipeline.data.eventlog import load_events
from ml_pipeline.data.sharding import load_shards, shard_file
from ml_pipeline.errors import EventLogError


def _load_all(shards, groups):
    return [
        load_shards(
            [shards.paths[i] for i in group], columns=shards.columns, formats=shards.formats, source="f"
        )
        for group in groups
    ]


def _events(logs) -> pd.DataFrame:
    frame = pd.concat([log.to_frame() for log in logs])
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def test_shards_hold_the_same_events_as_the_whole_file(tmp_path, small_log_frame):
    path = tmp_path / "events.csv"
    small_log_frame.to_csv(path, index=False)
    out = tmp_path / "shards"
    out.mkdir()
    shards = shard_file(path, out, batch_rows=500, n_shards=7)
    whole = load_events(path)
    assert shards.rows == len(small_log_frame)
    assert sum(shards.customers) == whole.n_customers
    assert shards.last_day == int(whole.day[-1])
    groups = shards.groups(400)
    assert sorted(i for g in groups for i in g) == list(range(len(shards.paths)))
    logs = _load_all(shards, groups)
    # each customer lands in exactly one group, with every one of its events
    ids = np.concatenate([log.customer_ids for log in logs])
    assert len(ids) == len(set(ids)) == whole.n_customers
    pd.testing.assert_frame_equal(_events(logs), _events([whole]))


def test_day_first_evidence_in_a_late_batch_decides_every_shard(tmp_path):
    # Only the last rows show day-first (13/..); early batches alone would be ambiguous.
    rows = [f"C{i % 50},0{1 + i % 9}/0{1 + i % 7}/2021,{i}" for i in range(3000)]
    rows += ["C1,13/02/2021,5", "C2,25/03/2021,6"]
    path = tmp_path / "events.csv"
    path.write_text("customer_id,event_date,amount\n" + "\n".join(rows) + "\n")
    out = tmp_path / "s"
    out.mkdir()
    shards = shard_file(path, out, batch_rows=100, n_shards=5)
    assert shards.formats["date"] == "DD/MM/YYYY"
    frame = _events(_load_all(shards, shards.groups(10)))
    first = frame[frame["amount"] == 0].iloc[0]  # row "C0,01/01/2021,0"
    assert str(first["event_date"].date()) == "2021-01-01"
    tenth = frame[frame["amount"] == 10].iloc[0]  # "C10,02/04/2021": 2 April, not 4 February
    assert str(tenth["event_date"].date()) == "2021-04-02"


def test_mixed_day_and_month_first_across_batches_names_both_rows(tmp_path):
    rows = ["A,13/02/2021,1"] + [f"B,01/0{1 + i % 9}/2021,1" for i in range(2000)] + ["C,02/25/2021,1"]
    path = tmp_path / "events.csv"
    path.write_text("customer_id,event_date,amount\n" + "\n".join(rows) + "\n")
    out = tmp_path / "s"
    out.mkdir()
    with pytest.raises(EventLogError) as err:
        shard_file(path, out, batch_rows=100)
    msg = str(err.value)
    assert "mixed date formats" in msg and "row 2" in msg and f"row {len(rows) + 1}" in msg


def test_decimal_comma_and_point_in_different_batches_is_refused(tmp_path):
    rows = ['A,2021-01-01,"12,50"'] + ["B,2021-01-02,3" for _ in range(2000)] + ["C,2021-01-03,4.25"]
    path = tmp_path / "events.csv"
    path.write_text("customer_id,event_date,amount\n" + "\n".join(rows) + "\n")
    out = tmp_path / "s"
    out.mkdir()
    with pytest.raises(EventLogError, match=r"mixed number styles.*row 2.*row 2003"):
        shard_file(path, out, batch_rows=100)


@pytest.mark.parametrize(
    "late", ["12,50", "1.250.000", "(3,50)", "EUR 7,5", "1.250", "٣.٢٥٠", "1,250.00", "-.5"]
)
def test_amount_evidence_in_a_late_batch_decides_as_reading_the_whole_file(tmp_path, late):
    # Batches of plain decimal points first: later values of that shape are skipped, so a late
    # value of any other shape must still be seen, and the file decided as reading it whole does.
    rows = [f"C{i % 50},2021-01-{1 + i % 28:02d},{i % 90}.{i % 7}5" for i in range(1500)]
    rows[1400] = f'C9,2021-02-01,"{late}"'
    path = tmp_path / "events.csv"
    path.write_text("customer_id,event_date,amount\n" + "\n".join(rows) + "\n")
    out = tmp_path / "s"
    out.mkdir()
    try:
        whole = load_events(path).info["reading"].get("amount"), None
    except EventLogError as exc:
        whole = None, str(exc)
    try:
        shards = shard_file(path, out, batch_rows=100)
        split = shards.formats["amount"], None
    except EventLogError as exc:
        split = None, str(exc)
    if whole[1] is not None:
        assert split[1] is not None and re.sub(r"^\S+: ", "", split[1]) == re.sub(r"^\S+: ", "", whole[1])
    else:
        assert split == ("dot", None)


def test_a_bad_row_is_reported_with_its_row_in_the_file(tmp_path):
    rows = [f"C{i % 300},2021-01-{1 + i % 28:02d},1" for i in range(2000)]
    rows[1500] = "C7,not a date,1"
    path = tmp_path / "events.csv"
    path.write_text("customer_id,event_date,amount\n" + "\n".join(rows) + "\n")
    out = tmp_path / "s"
    out.mkdir()
    shards = shard_file(path, out, batch_rows=100, n_shards=4)
    warnings = [w for log in _load_all(shards, shards.groups(10**6)) for w in log.warnings]
    assert any("unreadable event_date" in w and "row 1502" in w for w in warnings), warnings


def test_excel_and_header_only_files(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Customer ID", "Date", "Amount"])
    for i in range(250):
        ws.append([f"C{i % 40}", f"2021-02-{1 + i % 28:02d}", i])
    wb.save(tmp_path / "events.xlsx")
    out = tmp_path / "s"
    out.mkdir()
    shards = shard_file(tmp_path / "events.xlsx", out, batch_rows=60)
    assert shards.rows == 250 and sum(shards.customers) == 40 and shards.source_format == "xlsx"
    (tmp_path / "empty.csv").write_text("customer_id,event_date,amount\n")
    with pytest.raises(EventLogError, match="header but no data rows"):
        shard_file(tmp_path / "empty.csv", out)


def test_many_distinct_timestamps_take_the_last_day_from_the_shards(tmp_path, monkeypatch):
    import ml_pipeline.data.sharding as sharding

    monkeypatch.setattr(sharding, "_DATE_POOL_MAX", 5)  # as if every timestamp were distinct
    rows = [f"C{i % 30},2021-03-{1 + i % 28:02d} 10:{i % 60:02d}:00,{i}" for i in range(500)]
    rows.append("C1,2021-04-30 23:59:00,1")
    path = tmp_path / "events.csv"
    path.write_text("customer_id,event_date,amount\n" + "\n".join(rows) + "\n")
    out = tmp_path / "s"
    out.mkdir()
    shards = shard_file(path, out, batch_rows=50, n_shards=3)
    assert shards.last_day == int(load_events(path).day[-1])


def _long_row_file(path, before: int, field_bytes: int, after: int):
    """A CSV with a note column: ``before`` short rows, one whose note is ``field_bytes`` long,
    ``after`` short rows."""
    short = "".join(f"c{i % 37},2024-02-{1 + i % 28:02d},{1 + i % 9}.25,ok\n" for i in range(before))
    tail = "".join(f"d{i % 11},2024-03-{1 + i % 28:02d},2.5,ok\n" for i in range(after))
    path.write_text(
        f"customer_id,event_date,amount,note\n{short}c1,2024-02-03,7.5,{'x' * field_bytes}\n{tail}"
    )
    return path


def test_a_row_longer_than_the_streamed_block_is_read_again_in_larger_blocks(tmp_path):
    """A 5 MB field (the reader's first blocks are 48 KB here) after several batches were
    written: the split starts the read again in larger blocks, past the rows it has, and loses none."""
    path = _long_row_file(tmp_path / "events.csv", before=6000, field_bytes=5 << 20, after=500)
    out = tmp_path / "shards"
    out.mkdir()
    shards = shard_file(path, out, batch_rows=1000, n_shards=5)
    assert shards.rows == 6501
    events = _events(_load_all(shards, [list(range(len(shards.paths)))]))
    assert events.equals(_events([load_events(path)]))
    assert sum(shards.customers) == 37 + 11


def test_a_row_longer_than_the_largest_block_is_refused_naming_the_row(tmp_path, monkeypatch):
    from ml_pipeline.data import readers

    monkeypatch.setattr(readers, "_LARGEST_BLOCK", 1 << 20)  # 1 MB, so the file can stay small
    path = _long_row_file(tmp_path / "events.csv", before=3000, field_bytes=2 << 20, after=10)
    out = tmp_path / "shards"
    out.mkdir()
    with pytest.raises(EventLogError) as caught:
        shard_file(path, out, batch_rows=500)
    said = re.fullmatch(
        r"events\.csv: a row after row (\d+) is longer than 1 MB, the longest row this reader takes; an event "
        r"log's rows are short \(is a field's closing quote missing\?\)",
        str(caught.value),
    )
    assert said and int(said.group(1)) <= 3001, caught.value  # the long row is row 3002
