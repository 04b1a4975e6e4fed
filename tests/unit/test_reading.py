"""Reading files: formats, aliases, parsing, and a clear error for every bad input."""

from __future__ import annotations

import gzip

import numpy as np
import openpyxl
import pandas as pd
import pytest

from ml_pipeline.data.eventlog import load_events
from ml_pipeline.errors import EventLogError

GOOD = "customer_id,event_date,amount\nA,2020-01-01,10\nB,2020-01-02,20\nA,2020-01-05,5\n"


def test_reads_plain_csv(write_csv):
    log = load_events(write_csv(GOOD))
    frame = log.to_frame()
    assert list(frame["customer_id"]) == ["A", "B", "A"]
    assert list(frame["amount"]) == [10, 20, 5]
    assert str(frame["event_date"].iloc[2].date()) == "2020-01-05"
    assert set(frame["event_type"]) == {"purchase"}


@pytest.mark.parametrize("sep", [";", "\t"])
def test_reads_other_delimiters(write_csv, sep):
    log = load_events(write_csv(GOOD.replace(",", sep)))
    assert log.n_events == 3 and log.n_customers == 2


def test_reads_gzip_and_parquet(tmp_path):
    gz = tmp_path / "events.csv.gz"
    gz.write_bytes(gzip.compress(GOOD.encode()))
    assert load_events(gz).n_events == 3
    pq = tmp_path / "events.parquet"
    pd.DataFrame(
        {
            "customer_id": [1, 2],
            "event_date": pd.to_datetime(["2020-01-01", "2020-01-03"]),
            "amount": [1.5, 2.5],
        }
    ).to_parquet(pq)
    log = load_events(pq)
    assert list(log.to_frame()["customer_id"]) == ["1", "2"]
    assert list(log.amount) == [1.5, 2.5]


def test_header_aliases_map(write_csv):
    text = "CustomerID,InvoiceDate,Revenue,Department,Qty\n007,2020-01-01,3.5,Food,2\n8,2020-01-02,1,Toys,1\n"
    log = load_events(write_csv(text))
    assert log.info["columns"] == {
        "customer_id": "CustomerID",
        "event_date": "InvoiceDate",
        "amount": "Revenue",
        "category": "Department",
        "quantity": "Qty",
    }
    assert list(log.customer_ids) == ["007", "8"]  # ids stay strings: leading zeros kept
    assert log.categories == ["Food", "Toys"]
    assert list(log.quantity) == [2, 1]


def test_explicit_mapping_wins(write_csv):
    text = "kunde,datum,betrag,user_id\nA,2020-01-01,1,X\nB,2020-01-02,2,Y\n"
    log = load_events(
        write_csv(text), column_mapping={"customer_id": "kunde", "event_date": "datum", "amount": "betrag"}
    )
    assert list(log.customer_ids) == ["A", "B"]
    with pytest.raises(EventLogError, match="no column 'nope'"):
        load_events(write_csv(text), column_mapping={"customer_id": "nope"})


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("1,234.50", 1234.5),
        ("$12", 12.0),
        ("(3.00)", -3.0),
        ("€ 7.25", 7.25),
        ("", 0.0),
        ("-4", -4.0),
    ],
)
def test_amount_formats(write_csv, raw, expected):
    log = load_events(write_csv(f'customer_id,event_date,amount\nA,2020-01-01,"{raw}"\n'))
    assert log.to_frame()["amount"].abs().iloc[0] == pytest.approx(abs(expected))


def test_decimal_comma_in_semicolon_file(write_csv):
    log = load_events(write_csv("customer_id;event_date;amount\nA;2020-01-01;12,50\nB;2020-01-02;1.234,00\n"))
    assert sorted(log.amount) == [12.5, 1234.0]


@pytest.mark.parametrize(
    "dates,fmt",
    [
        (["31/01/2020", "01/02/2020"], "DD/MM/YYYY"),
        (["01/31/2020", "02/01/2020"], "MM/DD/YYYY"),
        (["20200131", "20200201"], "YYYYMMDD"),
        (["2020-01-31T10:00:00Z", "2020-02-01 08:30"], "YYYY-MM-DD"),
        (["31.01.2020", "01.02.2020"], "DD/MM/YYYY"),
    ],
)
def test_date_format_detection(write_csv, dates, fmt):
    text = "customer_id,event_date\n" + "".join(f"A,{d}\n" for d in dates)
    log = load_events(write_csv(text))
    assert log.info["date_format"] == fmt
    assert [str(d.date()) for d in log.to_frame()["event_date"]] == ["2020-01-31", "2020-02-01"]


def test_refunds_are_negative(write_csv):
    text = (
        "customer_id,event_date,amount,event_type\nA,2020-01-01,10,purchase\nA,2020-01-02,4,Refund\n"
        "A,2020-01-03,-2,purchase\nA,2020-01-04,0,login\n"
    )
    frame = load_events(write_csv(text)).to_frame()
    assert list(frame["event_type"]) == ["purchase", "refund", "refund", "login"]
    assert list(frame["amount"]) == [10, -4, -2, 0]


def _error(path, **kw) -> str:
    with pytest.raises(EventLogError) as info:
        load_events(path, **kw)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_empty_file(write_csv):
    assert "empty" in _error(write_csv(""))
    assert "no data rows" in _error(write_csv("customer_id,event_date\n"))


def test_missing_customer_column(write_csv):
    msg = _error(write_csv("name,event_date\nA,2020-01-01\n"))
    assert "no customer id column" in msg and "found columns: name, event_date" in msg


def test_unparseable_dates_name_row_and_column(write_csv):
    text = (
        "customer_id,event_date\n" + "".join(f"A,2020-01-{d:02d}\n" for d in range(1, 10)) + "B,yesterday\n"
    )
    msg = _error(write_csv(text))
    assert "unreadable event_date in row 11" in msg


def test_few_bad_rows_are_dropped_with_a_warning(write_csv):
    rows = "".join(f"C{i},2020-01-01,{i}\n" for i in range(300))
    log = load_events(write_csv("customer_id,event_date,amount\n" + rows + "X,2020-01-02,abc\n"))
    assert log.n_events == 300
    assert any("amount is not a number (first in row 302)" in w for w in log.warnings)


def test_mixed_date_formats(write_csv):
    text = "customer_id,event_date\nA,2020-01-31\nB,31/01/2020\nC,2020-02-01\nD,01/02/2020\n"
    msg = _error(write_csv(text))
    assert "mixed date formats" in msg and "row 3" in msg


def test_ambiguous_dates(write_csv):
    msg = _error(write_csv("customer_id,event_date\nA,01/02/2020\nB,03/04/2020\n"))
    assert "ambiguous" in msg and "--date-format" in msg
    log = load_events(
        write_csv("customer_id,event_date\nA,01/02/2020\nB,03/04/2020\n"), date_format="%d/%m/%Y"
    )
    assert str(log.to_frame()["event_date"].iloc[0].date()) == "2020-02-01"


def test_mixed_day_and_month_first(write_csv):
    msg = _error(write_csv("customer_id,event_date\nA,31/01/2020\nB,01/31/2020\n"))
    assert "day-first" in msg and "month-first" in msg


def test_amounts_not_numbers(write_csv):
    msg = _error(write_csv("customer_id,event_date,amount\nA,2020-01-01,ten\nB,2020-01-02,12\n"))
    assert "amount is not a number in row 2" in msg


def test_extension_must_match_content(tmp_path, write_csv):
    assert "name says an Excel .xlsx workbook but the content is a text (CSV) file" in _error(
        write_csv(GOOD, "events.xlsx")
    )
    zipped = tmp_path / "events.csv"
    zipped.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    assert "name says a text (CSV) file but the content is a zip archive" in _error(zipped)
    binary = tmp_path / "data.csv"
    binary.write_bytes(bytes(range(256)) * 10)
    assert "binary file" in _error(binary)
    fake_pq = write_csv(GOOD, "events.parquet")
    assert "name says a Parquet file" in _error(fake_pq)
    fake_gz = write_csv(GOOD, "events.csv.gz")
    assert "name says a gzip file" in _error(fake_gz)


def _workbook(path, sheets):
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def test_excel_sheets(tmp_path):
    import datetime as dt

    data = [
        ["Customer ID", "Date", "Total"],
        ["A", dt.datetime(2020, 1, 1), 12.5],
        [7, dt.date(2020, 1, 2), 3],
    ]
    notes = [["anything"], ["else"]]
    path = _workbook(tmp_path / "events.xlsx", {"Orders": data, "Notes": notes})
    log = load_events(path)
    assert list(log.customer_ids) == ["A", "7"] and list(log.amount) == [12.5, 3.0]
    assert any("2 sheets" in w and "--sheet" in w for w in log.warnings)
    path2 = _workbook(tmp_path / "two.xlsx", {"Notes": notes, "Orders": data})
    assert load_events(path2, sheet="Orders").n_events == 2
    assert "no customer id column" in _error(path2)
    assert "no sheet named 'Nope' (sheets: Notes, Orders)" in _error(path2, sheet="Nope")


def test_duplicate_rows(write_csv):
    rows = "".join(f"C{i},2020-01-0{1 + i % 5},{i}\n" for i in range(100))
    doubled = write_csv("customer_id,event_date,amount\n" + rows + rows)
    msg = _error(doubled)
    assert "100 exact duplicate row(s)" in msg and "--duplicates" in msg
    assert load_events(doubled, duplicates="drop").n_events == 100
    few = write_csv("customer_id,event_date,amount\n" + rows + rows.splitlines(True)[0])
    log = load_events(few)
    assert log.n_events == 101 and any("kept 1 exact duplicate" in w for w in log.warnings)
    assert "exact duplicate" in _error(few, duplicates="error")


def test_all_rows_sorted_by_day(write_csv):
    log = load_events(write_csv("customer_id,event_date\nA,2020-03-01\nB,2020-01-01\nC,2020-02-01\n"))
    assert np.all(np.diff(log.day) >= 0)
    assert list(log.to_frame()["customer_id"]) == ["B", "C", "A"]


def test_parquet_with_nulls(tmp_path):
    path = tmp_path / "nulls.parquet"
    pd.DataFrame(
        {
            "customer_id": ["A", None, "B", "C"],
            "event_date": pd.to_datetime(["2020-01-01", "2020-01-02", None, "2020-01-04"]),
            "amount": [1.0, 2.0, 3.0, None],
            "category": ["x", None, "y", None],
        }
    ).to_parquet(path)
    log = load_events(path, max_bad_share=0.6)
    frame = log.to_frame()
    assert list(frame["customer_id"]) == ["A", "C"] and list(frame["amount"]) == [1.0, 0.0]
    assert frame["category"].iloc[0] == "x" and pd.isna(frame["category"].iloc[1])
    assert any("empty customer_id" in w for w in log.warnings)


def test_from_records_matches_the_file_path(write_csv):
    from ml_pipeline.data.eventlog import from_records

    text = (
        "customer_id,event_date,amount,event_type,category\nA,2020-01-03,10,purchase,x\n"
        "B,2020-01-01,5,Order,y\nA,2020-01-02,-3,purchase,x\nB,2020-01-04,0,login,\n"
    )
    via_file = load_events(write_csv(text)).to_frame()
    records = [
        ("A", "2020-01-03", 10.0, "purchase", "x"),
        ("B", "2020-01-01T09:30:00", 5.0, "Order", "y"),
        ("A", "2020-01-02", -3.0, None, "x"),
        ("B", "2020-01-04", 0.0, "login", None),
    ]
    pd.testing.assert_frame_equal(from_records(records).to_frame(), via_file)
    with pytest.raises(EventLogError, match="event 2: event_date 'soon' is not an ISO date"):
        from_records([("A", "2020-01-01", 1.0, None, None), ("A", "soon", 1.0, None, None)])


def test_from_records_codes_types_and_categories_as_the_file_path(write_csv):
    from ml_pipeline.data.eventlog import from_records

    text = (
        "customer_id,event_date,amount,event_type,category\nA,2020-01-03,10, Add  to Cart ,x \n"
        "B,2020-01-01,5,chargeback,y\nA,2020-01-02,-3,,x\nB,2020-01-04,0,Login,\n"
    )
    via_file = load_events(write_csv(text))
    records = [
        ("A", "2020-01-03", 10.0, " Add  to Cart ", "x "),
        ("B", "2020-01-01", 5.0, "chargeback", "y"),
        ("A", "2020-01-02", -3.0, "", "x"),
        ("B", "2020-01-04", 0.0, "Login", None),
    ]
    log = from_records(records)
    pd.testing.assert_frame_equal(log.to_frame(), via_file.to_frame())
    assert log.event_types == via_file.event_types == ["add_to_cart", "login", "purchase", "refund"]
    assert log.categories == via_file.categories == ["x", "y"]


def test_from_records_keeps_each_customer_id_as_sent():
    # The predict API finds each customer's prediction by the id it was sent: a trailing NUL
    # character, dropped by numpy's str dtype, made that lookup fail with a 500.
    from ml_pipeline.data.eventlog import from_records

    log = from_records([("a\x00", "2020-01-01", 1.0, None, None), ("a", "2020-01-02", 2.0, None, None)])
    assert sorted(log.customer_ids) == ["a", "a\x00"]


def _rows(n: int) -> str:
    """``n`` event rows repeating every 100 (they pack to almost nothing) of 97 customers."""
    cycle = "".join(f"c{i % 97},2024-01-{1 + i % 28:02d},{1 + i % 50}.5\n" for i in range(100))
    return cycle * (n // 100)


def test_a_gzip_that_unpacks_past_the_limit_is_refused_before_parsing(tmp_path):
    path = tmp_path / "events.csv.gz"
    with gzip.open(path, "wt") as fh:  # ~2.6 MB of rows in a few KB
        fh.write("customer_id,event_date,amount\n" + _rows(120_000))
    assert path.stat().st_size < 200_000
    with pytest.raises(EventLogError) as caught:
        load_events(path, max_inflated_mb=1)
    assert str(caught.value).startswith(
        "events.csv.gz: the gzip file unpacks to more than 1 MB (from 0.0 MB), the most allowed for a "
        "compressed file's contents; split the log into smaller files"
    ), caught.value
    assert load_events(path, max_inflated_mb=5, duplicates="keep").n_customers == 97  # within the limit
    assert load_events(path, duplicates="keep").n_customers == 97  # the library default: no limit


def test_a_workbook_that_unpacks_past_the_limit_is_refused_by_its_declared_sizes(tmp_path):
    import zipfile

    path = tmp_path / "shop.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["customer_id", "event_date", "amount"])
    wb.active.append(["a", "2024-01-01", 3])
    wb.save(path)
    assert load_events(path, max_inflated_mb=1).n_customers == 1
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/media/padding.bin", b"\0" * (3 << 20))  # 3 MB that packs to a few KB
    with pytest.raises(EventLogError) as caught:
        load_events(path, max_inflated_mb=2)
    message = str(caught.value)
    assert message.startswith(
        "shop.xlsx: the workbook unpacks to 3 MB (xl/media/padding.bin alone 3 MB) from 0.0 MB"
    )
    assert message.endswith(
        "more than the 2 MB allowed for a compressed file's contents; export the sheet as CSV and use that file"
    )


def test_the_cli_takes_a_limit_on_inflated_size(tmp_path, capsys):
    from ml_pipeline.cli import main

    path = tmp_path / "events.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("customer_id,event_date,amount\n" + _rows(120_000))
    assert main(["profile", "--events", str(path), "--max-inflated-mb", "1"]) == 2
    assert "unpacks to more than 1 MB" in capsys.readouterr().err


@pytest.mark.parametrize("date_format", ["%Q%Q", "%Y-%m-%", "%"])
def test_a_date_format_that_is_no_strptime_format_is_refused_naming_the_option(date_format):
    from ml_pipeline.data.options import ReadOptions

    with pytest.raises(EventLogError, match=r"date format .* is not a strptime format .*--date-format"):
        ReadOptions(date_format=date_format)
    ReadOptions(date_format="%d/%m/%Y %H:%M")  # a real one passes
