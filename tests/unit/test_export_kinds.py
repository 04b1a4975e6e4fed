"""Ordinary shop, payment and spreadsheet exports read right (issue 11): each kind of input as a
small file written here, read whole and through the bulk path's shards, with its right value.

The made-up export cases in tests/cases/ (a copy of the project's shared cases) are checked at the
end against the right values in their README.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from ml_pipeline.data.eventlog import load_events
from ml_pipeline.data.options import ReadOptions
from ml_pipeline.data.profiling import profile
from ml_pipeline.data.sharding import load_shards, shard_file
from ml_pipeline.errors import EventLogError


def _write(tmp_path: Path, text: str, name: str = "events.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _via_shards(path: Path, options: ReadOptions | None = None) -> pd.DataFrame:
    """The events as the bulk path reads them: shards in small batches, each group loaded alone."""
    out = path.parent / f"shards-{path.stem}"
    out.mkdir()
    shards = shard_file(path, out, options=options, batch_rows=3, n_shards=3)
    frames = [
        load_shards(
            [p], columns=shards.columns, formats=shards.formats, source=path.name, options=options
        ).to_frame()
        for p in shards.paths
    ]
    return _sorted(pd.concat(frames))


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["customer_id", "event_date", "amount"]).reset_index(drop=True)


def _same_both_ways(path: Path, options: ReadOptions | None = None):
    """Read ``path`` whole and through shards; assert the same events; return the whole log."""
    log = load_events(path, options)
    pd.testing.assert_frame_equal(_sorted(log.to_frame()), _via_shards(path, options), check_dtype=False)
    return log


# 1. Line-item exports


LINE_ITEMS = (
    "Invoice,StockCode,Quantity,InvoiceDate,Price,Customer ID\n"
    "489434,85048,12,2023-01-05 10:00:00,2.50,13085.0\n"
    "489434,79323,12,2023-01-05 10:00:00,2.50,13085.0\n"  # another product, same numbers
    "489435,22041,3,2023-01-06 09:00:00,1.25,13086.0\n"
    "C489500,85048,-12,2023-01-07 11:00:00,2.50,13085.0\n"
    "C489501,22041,3,2023-01-08 11:00:00,1.25,13086.0\n"  # a cancellation written positive
)


def test_unit_price_times_quantity_and_cancellations_are_refunds(tmp_path):
    log = _same_both_ways(_write(tmp_path, LINE_ITEMS))
    frame = log.to_frame()
    assert list(log.customer_ids) == ["13085", "13086"]
    assert frame["amount"].round(2).tolist() == [30.0, 30.0, 3.75, -30.0, -3.75]
    assert frame["event_type"].tolist() == ["purchase", "purchase", "purchase", "refund", "refund"]
    p = profile(log)
    assert p["duplicate_rows"] == 0  # the two lines of invoice 489434 differ in StockCode
    assert p["amount_total"] == 30.0
    assert p["reading"]["amount"].startswith("Quantity x Price")
    assert "cancellation" in p["reading"]["cancellations"]


def test_amount_is_total_when_told_or_named_so(tmp_path):
    told = load_events(_write(tmp_path, LINE_ITEMS), amount_is="total")
    assert told.amount[0] == 2.5
    named = "Order,Quantity,Date,Total,Customer\n1,3,2023-01-05,30.00,A\n"
    assert load_events(_write(tmp_path, named, "total.csv")).amount.tolist() == [30.0]


def test_a_line_without_quantity_is_a_bad_row_when_the_amount_is_a_unit_price(tmp_path):
    text = "Quantity,Date,UnitPrice,Customer\n2,2023-01-05,1.50,A\n,2023-01-06,1.50,B\n"
    with pytest.raises(EventLogError, match=r"Quantity is not a number.*row 3.*--max-bad-rows"):
        load_events(_write(tmp_path, text))


def test_lines_equal_in_every_column_are_still_duplicates(tmp_path):
    rows = "".join(f"{i},85048,1,2023-01-05,2.50,C{i}\n" for i in range(40))
    text = "Invoice,StockCode,Quantity,InvoiceDate,Price,Customer ID\n" + rows + rows.splitlines()[0] + "\n"
    assert profile(load_events(_write(tmp_path, text)))["duplicate_rows"] == 1


# 2. What an event is


def test_payment_processor_types(tmp_path):
    text = (
        "id,Type,Amount,Created (UTC),Customer ID\n"
        "txn_1,charge,20.00,2023-01-05 10:00,cus_A\n"
        "txn_2,refund,-5.00,2023-01-06 10:00,cus_A\n"
        "txn_3,payment,7.00,2023-01-06 10:00,cus_B\n"
    )
    log = _same_both_ways(_write(tmp_path, text))
    p = profile(log)
    assert p["event_types"] == {"purchase": 2, "refund": 1}
    assert p["amount_total"] == 22.0
    assert p["reading"]["event_types"] == {"charge": "purchase", "refund": "refund", "payment": "purchase"}


def test_shop_statuses_cancelled_adds_nothing_refunded_nets_to_zero(tmp_path):
    text = (
        "order_id,customer_id,created_at,total,status\n"
        "1,A,2023-01-05,10.00,completed\n"
        "2,A,2023-01-06,20.00,processing\n"
        "3,B,2023-01-06,30.00,cancelled\n"
        "4,B,2023-01-07,40.00,failed\n"
        "5,C,2023-01-07,50.00,refunded\n"
        "6,C,2023-01-08,60.00,Completed\n"
    )
    log = _same_both_ways(_write(tmp_path, text))
    p = profile(log)
    assert p["amount_total"] == 90.0
    assert p["event_types"]["purchase"] == 3
    assert {"cancelled", "failed", "refunded_order"} <= set(p["event_types"])
    spend = log.to_frame().groupby("customer_id")["amount"].apply(lambda a: a[log.is_spend()[a.index]].sum())
    assert spend.to_dict() == {"A": 30.0, "B": 0.0, "C": 60.0}


def test_in_an_event_column_refunded_is_a_refund(tmp_path):
    text = "customer_id,event_date,amount,event_type\nA,2023-01-05,10,purchase\nA,2023-01-06,10,refunded\n"
    assert profile(load_events(_write(tmp_path, text)))["event_types"] == {"purchase": 1, "refund": 1}


def test_the_caller_says_what_types_mean(tmp_path):
    text = (
        "customer,date,amount,kind\n"
        "A,2023-01-05,10,Vorgang\nA,2023-01-06,4,Storno\nB,2023-01-06,9,Test\nB,2023-01-07,1,Visit\n"
    )
    path = _write(tmp_path, text)
    options = ReadOptions(
        event_types={"vorgang": "purchase", "Storno": "refund", "TEST": "ignore", "visit": "other"}
    )
    log = _same_both_ways(path, options)
    p = profile(log)
    assert p["event_types"] == {"purchase": 1, "refund": 1, "visit": 1}
    assert p["rows"] == 3 and p["amount_total"] == 6.0
    assert any("event type test (ignore)" in w for w in p["warnings"])


def test_a_log_without_purchases_names_the_types_it_saw(tmp_path):
    text = (
        "customer,date,amount,kind\nA,2023-01-05,10,Vorgang\nB,2023-01-06,4,Vorgang\nB,2023-01-07,4,Storno\n"
    )
    warnings = profile(load_events(_write(tmp_path, text)))["warnings"]
    assert any(
        "no purchase events" in w and "vorgang (2)" in w and "--event-type vorgang=purchase" in w
        for w in warnings
    )


# 3. Customer ids


def test_ids_with_a_float_tail_are_one_customer_in_every_format(tmp_path):
    text = "CustomerID,InvoiceDate,Amount\n12346,2023-01-05,10\n12346.0,2023-07-05,12\n00123,2023-07-06,1\nA7.0,2023-07-07,1\n"
    log = _same_both_ways(_write(tmp_path, text))
    assert sorted(log.customer_ids) == ["00123", "12346", "A7.0"]
    frame = pd.DataFrame(
        {"CustomerID": [12346.0, 12346.0, np.nan, 12347.0], "InvoiceDate": pd.to_datetime(["2023-01-05"] * 4)}
    )
    frame.to_parquet(tmp_path / "ids.parquet")
    log = load_events(tmp_path / "ids.parquet", max_bad_share=0.5)
    assert sorted(log.customer_ids) == ["12346", "12347"]
    out = tmp_path / "pq-shards"
    out.mkdir()
    shards = shard_file(tmp_path / "ids.parquet", out, options=ReadOptions(max_bad_share=0.5))
    assert sum(shards.customers) == 2


# 4. Encodings


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-8-sig"])
def test_text_with_a_byte_order_mark(tmp_path, encoding):
    text = "customer_id\tevent_date\tamount\r\nA\t2023-01-05\t10\r\nZoë\t2023-01-06\t2.5\r\n"
    log = _same_both_ways(_write(tmp_path, text, "unicode.txt", encoding))
    assert sorted(log.customer_ids) == ["A", "Zoë"]
    assert log.amount.sum() == 12.5


def test_encoding_decided_on_the_whole_file(tmp_path):
    ascii_rows = "".join(f"C{i},2023-01-05,1.50,Food\n" for i in range(5000))  # > 64 KiB of ASCII
    text = "customer_id,event_date,amount,category\n" + ascii_rows + "C1,2023-01-06,2.00,Caf\xe9\n"
    path = _write(tmp_path, text, encoding="cp1252")
    log = _same_both_ways(path)
    assert "Café" in log.categories
    assert any("not UTF-8" in w and "row 5002" in w and "cp1252" in w for w in log.warnings)


def test_a_file_mixing_encodings_names_the_row_and_column(tmp_path):
    head = "customer_id,event_date,amount,category\nC1,2023-01-05,1,Café\n".encode()
    path = tmp_path / "mixed.csv"
    path.write_bytes(head + "C2,2023-01-06,2,Caf\xe9\n".encode("cp1252"))
    with pytest.raises(EventLogError, match=r"row 3, column category.*mixes encodings.*--encoding"):
        load_events(path)
    assert "Caf\xe9" in load_events(path, encoding="cp1252").categories[1]


# 5. Spreadsheet leftovers


def test_blank_rows_and_repeated_headers_are_left_out_with_a_note(tmp_path):
    text = (
        "customer_id,event_date,amount\nA,2023-01-05,10\n,,\n"
        "customer_id,event_date,amount\nB,2023-01-06,12\n , ,\n"
    )
    log = _same_both_ways(_write(tmp_path, text))
    assert log.n_events == 2
    notes = " ".join(log.warnings)
    assert "left out 2 row(s): every field is empty (first in row 3)" in notes
    assert "left out 1 row(s): the row repeats the header (first in row 4)" in notes


def test_xlsx_with_a_wrong_used_range_is_read_whole(tmp_path):
    path = tmp_path / "wrong.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["customer_id", "event_date", "amount", "category"])
    for i in range(30):
        ws.append([f"C{i}", f"2023-01-{i % 28 + 1:02d}", 1.5, "Food"])
    wb.save(path)
    _set_dimension(path, "A1")
    log = load_events(path)
    assert log.n_events == 30 and log.categories == ["Food"]


def _set_dimension(path: Path, ref: str) -> None:
    """Rewrite the sheet's recorded used range, as some exporters write it."""
    with zipfile.ZipFile(path) as zf:
        parts = {name: zf.read(name) for name in zf.namelist()}
    sheet = "xl/worksheets/sheet1.xml"
    parts[sheet] = re.sub(rb'<dimension ref="[^"]*"', f'<dimension ref="{ref}"'.encode(), parts[sheet])
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in parts.items():
            zf.writestr(name, data)


def test_serial_day_numbers_and_accounting_zero(tmp_path):
    text = 'customer_id,event_date,amount\nA,2023-01-05,"$ 10.00"\nB,44927,"$ -"\nC,2023-01-07,"$ 1.50"\n'
    log = _same_both_ways(_write(tmp_path, text))
    frame = log.to_frame().set_index("customer_id")
    assert str(frame.loc["B", "event_date"].date()) == "2023-01-01"
    assert frame["amount"].to_dict() == {"A": 10.0, "B": 0.0, "C": 1.5}
    assert any("serial day numbers" in w and "44927" in w and "2023-01-01" in w for w in log.warnings)


# 6. Amounts


def test_dot_groups_thousands_where_the_column_says_so(tmp_path):
    text = "customer_id;order_date;amount\nA;15-02-2023;$26.560\nB;16-02-2023;$1.250.000\nC;17-02-2023;$990\n"
    log = _same_both_ways(_write(tmp_path, text))
    assert log.to_frame().set_index("customer_id")["amount"].to_dict() == {"A": 26560, "B": 1250000, "C": 990}


def test_no_evidence_either_way_is_an_ambiguous_amount_error(tmp_path):
    text = "customer_id;order_date;amount\nA;15-02-2023;$26.560\nB;16-02-2023;$87.680\n"
    path = _write(tmp_path, text)
    with pytest.raises(EventLogError, match=r"ambiguous amount '\$26.560' \(row 2\).*--decimal comma"):
        load_events(path)
    out = tmp_path / "amb"
    out.mkdir()
    with pytest.raises(EventLogError, match="ambiguous amount"):
        shard_file(path, out)
    assert load_events(path, decimal="comma").amount.tolist() == [26560, 87680]
    assert load_events(path, decimal="dot").amount.tolist() == [26.56, 87.68]


def test_a_decimal_point_elsewhere_settles_three_decimals(tmp_path):
    text = "customer_id,event_date,amount\nA,2023-01-05,26.560\nB,2023-01-06,3.5\n"
    assert load_events(_write(tmp_path, text)).amount.tolist() == [26.56, 3.5]


# The made-up cases in tests/cases/, with the right values from their README.

CASES = Path(__file__).resolve().parents[1] / "cases"


def test_shared_line_item_cases():
    p = profile(load_events(CASES / "01_min.csv"))
    assert (p["amount_total"], p["refund_total"], p["customers"]) == (0.0, 30.0, 1)
    p = profile(load_events(CASES / "01_online_retail_unitprice_cancellations.csv.gz"))
    assert p["customers"] == 120 and p["event_types"]["refund"] == 99
    assert (p["amount_total"], p["refund_total"]) == (95857.65, 3148.75)
    assert p["duplicate_rows"] == 0


def test_shared_id_encoding_leftover_amount_and_processor_cases():
    assert list(load_events(CASES / "03_min.csv").customer_ids) == ["12346"]
    assert load_events(CASES / "03_float_customer_ids_appended.csv").n_customers == 120
    log = load_events(CASES / "07_min.csv")
    assert (log.n_events, log.n_customers) == (2, 2)
    assert load_events(CASES / "07_trailing_empty_rows.csv").n_events == 1826
    amounts = load_events(CASES / "12_min.csv").to_frame()["amount"].tolist()
    assert amounts == [26560, 1250000, 990]
    with pytest.raises(EventLogError, match="ambiguous amount.*--decimal"):
        load_events(CASES / "12_clp_dot_thousands_no_decimals.csv")
    assert load_events(CASES / "14_min.txt").n_events == 1
    assert load_events(CASES / "14_excel_unicode_text_utf16.txt").n_events == 904
    p = profile(load_events(CASES / "19_min.csv"))
    assert p["amount_total"] == 15.0 and p["event_types"] == {"purchase": 1, "refund": 1}
    log = load_events(CASES / "20_xlsx_wrong_dimension.xlsx")
    assert (log.n_events, len(log.info["columns"])) == (1645, 4)


def test_shared_regression_cases_stay_right():
    p = profile(load_events(CASES / "22_german_excel_bom_semicolon.csv"))
    assert p["amount_total"] == 113165.20
    log = load_events(CASES / "11_shopify_offsets_near_midnight.csv")
    frame = log.to_frame()
    assert str(frame["event_date"].iloc[0].date()) == "2023-01-01"  # 00:44 -0500 stays on its day
    p = profile(load_events(CASES / "09_zero_and_fully_refunded_orders.csv"))
    assert p["event_types"] == {"purchase": 3098, "refund": 489}


# Found by trying other exports of the same kinds


def test_accounting_negatives_in_every_spelling(tmp_path):
    values = ['"$ (3.00)"', '"$(3.00)"', '"($3.00)"', "(3.00)", "3.00-", '"$ -"']
    text = "customer_id,event_date,amount\n" + "".join(f"C{i},2023-01-05,{v}\n" for i, v in enumerate(values))
    assert load_events(_write(tmp_path, text)).to_frame()["amount"].tolist() == [-3.0] * 5 + [0.0]


@pytest.mark.parametrize(
    "header,rows,total",
    [
        ("Order Total", ["12.50", "7.50"], 20.0),
        ("Gross Sales", ["12.50", "7.50"], 20.0),
        ("Brutto", ["12,50", "7,50"], 20.0),
    ],
)
def test_amount_headers_of_shop_exports(tmp_path, header, rows, total):
    sep = ";" if "," in rows[0] else ","
    text = f"Billing Email{sep}Order Date{sep}{header}\n" + "".join(
        f"c{i}@x.com{sep}2023-01-0{i + 1}{sep}{v}\n" for i, v in enumerate(rows)
    )
    log = load_events(_write(tmp_path, text))
    assert log.info["columns"]["amount"] == header and profile(log)["amount_total"] == total
    assert any(
        "'Billing Email' as customer_id" in w and "--column customer_id=HEADER" in w for w in log.warnings
    )


def test_german_line_items_and_paypal_words(tmp_path):
    text = (
        "Rechnungsnr;Kundennr;Menge;Einzelpreis;Rechnungsdatum\n"
        "1001;17850;6;2,55;01.12.2023\nC1002;17850;-2;2,55;02.12.2023\n"
    )
    log = load_events(_write(tmp_path, text))
    assert profile(log)["amount_total"] == 10.2 and profile(log)["event_types"] == {
        "purchase": 1,
        "refund": 1,
    }
    paypal = "Datum,Typ,Absender E-Mail-Adresse,Brutto\n01.12.2023,Website-Zahlung,a@x.de,10\n02.12.2023,Rückzahlung,a@x.de,-4\n"
    p = profile(load_events(_write(tmp_path, paypal, "paypal.csv")))
    assert p["event_types"] == {"purchase": 1, "refund": 1} and p["amount_total"] == 6.0


def test_no_amount_column_names_the_way_out(tmp_path):
    log = load_events(_write(tmp_path, "customer_id,event_date,stuff\nA,2023-01-05,x\n"))
    assert any("no amount column" in w and "--column amount=HEADER" in w for w in log.warnings)


def test_xlsx_empty_rows_keep_the_row_numbers_and_a_second_sheet_is_named(tmp_path):
    path = tmp_path / "gaps.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["customer_id", "event_date", "amount"])
    ws.append(["A", "2023-01-05", 10])
    ws.append([None, None, None])
    ws.append([None, None, None])
    ws.append(["B", "2023-01-06", "ten"])
    wb.save(path)
    with pytest.raises(EventLogError, match="not a number in row 5"):
        load_events(path)
    wb = openpyxl.Workbook()
    wb.active.append(["Report", "Q1 sales"])
    wb.create_sheet("Orders").append(["customer_id", "event_date", "amount"])
    wb.save(path)
    with pytest.raises(EventLogError, match=r"another sheet \(Sheet, Orders\), pass --sheet NAME"):
        load_events(path)


def test_a_column_of_serial_day_numbers_gets_a_note(tmp_path):
    log = load_events(_write(tmp_path, "customer_id,event_date,amount\nA,45292,1\nB,45293,2\n"))
    assert str(log.to_frame()["event_date"].iloc[0].date()) == "2024-01-01"
    assert any("serial day numbers" in w for w in log.warnings)


def test_an_overlong_customer_id_is_a_bad_row_and_a_megabyte_field_is_read(tmp_path):
    rows = "".join(f"B,2023-01-02,{i}\n" for i in range(200))
    text = "customer_id,event_date,amount\n" + "A" * 2_000_000 + ",2023-01-01,1\n" + rows
    log = load_events(_write(tmp_path, text))
    assert log.n_customers == 1
    assert any("customer_id longer than 200 characters (first in row 2)" in w for w in log.warnings)


def test_a_customer_id_with_a_nul_character_is_a_bad_row_not_another_customer(tmp_path):
    # A text file with a NUL byte is refused as binary; a Parquet file can carry one in a string.
    days = pd.date_range("2023-01-01", periods=200).strftime("%Y-%m-%d")
    frame = pd.DataFrame({"customer_id": ["a"] * 199 + ["a\x00"], "event_date": days, "amount": 1.0})
    frame.loc[199, "amount"] = 100.0
    frame.to_parquet(tmp_path / "events.parquet")
    log = load_events(tmp_path / "events.parquet")
    assert list(log.customer_ids) == ["a"] and log.to_frame()["amount"].sum() == 199
    assert any("customer_id with a NUL character (first in row 201)" in w for w in log.warnings)


def test_a_header_wider_than_64_kib(tmp_path):
    extra = [f"column_{i}" for i in range(20000)]
    text = ",".join(["customer_id", "event_date", "amount", *extra]) + "\n"
    text += "".join(",".join([c, "2023-01-01", "1", *["x"] * len(extra)]) + "\n" for c in "AB")
    assert load_events(_write(tmp_path, text)).n_events == 2
