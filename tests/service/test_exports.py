"""Result files keep ids intact: formulas are neutralized, numbers and phone numbers are not."""

from __future__ import annotations

import io
import re

import numpy as np
import openpyxl
import pandas as pd
import pytest
from prediction_store import hostile_frame

from hcl_server.services.exports import (
    csv_pieces,
    escape_text,
    float_texts,
    unescape_text,
    write_csv,
)
from hcl_server.services.exports_xlsx import _column_letter, write_xlsx
from ml_pipeline.serving.scoring import rounded

SENT = [
    "+4915112345",
    "-5",
    "+1 (555) 123-4567",
    "-12.50",
    "007",
    '=HYPERLINK("http://x")',
    "@SUM(A1)",
    "-2+3+cmd|' /C calc'!A0",
    "+A1",
    "'abc",
    "'=x",
    "''=x",
]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("+4915112345", "+4915112345"),
        ("-5", "-5"),
        ("+1 (555) 123-4567", "+1 (555) 123-4567"),
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("+A1", "'+A1"),
        ("'abc", "'abc"),
        ("'=x", "''=x"),
    ],
)
def test_formulas_are_neutralized_and_numbers_kept(value, written):
    assert escape_text(value) == written
    assert unescape_text(written) == value


def test_every_value_comes_back_as_sent():
    assert [unescape_text(escape_text(v)) for v in SENT] == SENT


def test_the_workbook_holds_typed_cells_with_the_ids_as_sent(tmp_path):
    frame = pd.DataFrame(
        {
            "customer_id": SENT,
            "churn_probability": [0.123456789] * len(SENT),
            "risk_segment": ["Low"] * len(SENT),
            "spend_total": [12.3456] * len(SENT),
        }
    )
    csv, xlsx = tmp_path / "p.csv", tmp_path / "p.xlsx"
    write_csv(rounded(frame), csv)
    assert "0.1235,Low,12.35" in csv.read_text()
    write_xlsx(csv, xlsx)
    rows = list(openpyxl.load_workbook(xlsx).active.iter_rows(min_row=2))
    assert [r[0].value for r in rows] == SENT
    assert all(r[0].data_type == "s" for r in rows)
    assert rows[0][1].value == 0.1235 and rows[0][1].data_type == "n"
    assert rows[0][3].value == 12.35


def pandas_csv(frame: pd.DataFrame) -> bytes:
    """The CSV as written before issue 16: every text column escaped, then pandas' to_csv."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].astype(str).map(escape_text)
    return out.to_csv(index=False).encode()


def new_csv(frame: pd.DataFrame) -> bytes:
    return b"".join(bytes(p) for p in csv_pieces(frame))


def test_the_csv_is_byte_for_byte_what_pandas_wrote():
    frame = hostile_frame(20_000)
    frame.loc[:9, "spend_other"] = [
        np.nan,
        np.inf,
        -np.inf,
        1e-05,
        1e22,
        -0.0,
        5e-324,
        0.1 + 0.2,
        1e15,
        123.0,
    ]
    frame["customer_id"] = frame["customer_id"].astype(str)  # pandas' own text dtype too
    assert new_csv(frame) == pandas_csv(frame)
    assert new_csv(frame.iloc[:0]) == pandas_csv(frame.iloc[:0])
    single = frame[["customer_id"]].iloc[:50]
    assert new_csv(single) == pandas_csv(single)
    assert new_csv(pd.DataFrame(index=range(3))) == b"\n"  # rows without columns: as before


def test_floats_are_written_as_python_writes_them():
    rng = np.random.default_rng(0)
    values = np.concatenate(
        [10.0 ** rng.uniform(-9, 24, 200_000) * rng.choice([-1, 1], 200_000), 10.0 ** np.arange(-10, 30.0)]
    )
    assert float_texts(values).to_pylist() == [repr(v) for v in values.tolist()]


def test_a_carriage_return_is_quoted_so_the_row_reads_back_whole():
    frame = pd.DataFrame({"customer_id": ["cr\rin", "plain"], "churn_probability": [0.5, 0.25]})
    written = new_csv(frame)
    assert written == b'customer_id,churn_probability\n"cr\rin",0.5\nplain,0.25\n'
    back = pd.read_csv(io.BytesIO(written), dtype={"customer_id": str})
    assert back["customer_id"].tolist() == ["cr\rin", "plain"]


def test_the_partitions_merge_into_one_csv(tmp_path):
    from hcl_server.services.bulk_results import concat_csv

    frame = hostile_frame(3000)
    parts = []
    for k, piece in enumerate([frame.iloc[:1000], frame.iloc[1000:1000], frame.iloc[1000:]]):
        parts.append(tmp_path / f"part-{k}.csv")
        write_csv(piece, parts[-1])
    concat_csv(parts, tmp_path / "all.csv")
    assert (tmp_path / "all.csv").read_bytes() == pandas_csv(frame)


ODD_TEXTS = [
    " lead",
    "trail ",
    "\xa0nbsp\xa0",
    "ctl\x01\x1f",
    "_x0041_ as text",
    "a & b < c > d",
    "tab\tinside",
    "🎉" * 20_000,  # past Excel's 32,767 UTF-16 units: cut as XlsxWriter cuts it
    "x" * 40_000,
    "é",
]


def odd_frame() -> pd.DataFrame:
    frame = hostile_frame(5000)
    frame.loc[: len(ODD_TEXTS) - 1, "reasons"] = ODD_TEXTS
    frame.loc[: len(ODD_TEXTS) - 1, "risk_segment"] = ODD_TEXTS[::-1]
    frame.loc[:3, "spend_other"] = [np.nan, 1e-05, 0.1 + 0.2, 64.76000000000001]
    return frame


TEXT = ("customer_id", "risk_segment", "reasons")


def read_back(csv) -> pd.DataFrame:
    """The CSV with its text as written (an empty text is "") and an empty number as NaN."""
    names = pd.read_csv(csv, nrows=0).columns
    return pd.read_csv(
        csv,
        dtype={c: str for c in TEXT},
        keep_default_na=False,
        na_values={c: [""] for c in names if c not in TEXT},
    )


def xlsxwriter_book(csv, path) -> None:
    """The reference: the same CSV written cell by cell with XlsxWriter's public API."""
    import xlsxwriter

    frame = read_back(csv)
    book = xlsxwriter.Workbook(
        str(path), {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    )
    sheet = book.add_worksheet("predictions")
    for c, name in enumerate(frame.columns):
        sheet.write_string(0, c, name)
    for r, row in enumerate(frame.itertuples(index=False), start=1):
        for c, value in enumerate(row):
            if isinstance(value, str):
                sheet.write_string(r, c, unescape_text(value))
            elif value == value:  # an empty number is no cell
                sheet.write_number(r, c, value)
    book.close()


def sheet_cells(path) -> list[tuple]:
    """Every cell of the sheet's XML: (ref, type, text or float value, xml:space)."""
    import zipfile
    from xml.etree import ElementTree

    ns = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    root = ElementTree.fromstring(zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml"))
    out = []
    for cell in root.iter(f"{ns}c"):
        t = cell.find(f"{ns}is/{ns}t")
        if t is not None:
            space = t.get("{http://www.w3.org/XML/1998/namespace}space")
            out.append((cell.get("r"), cell.get("t"), t.text or "", space))
        else:
            out.append((cell.get("r"), cell.get("t"), float(cell.find(f"{ns}v").text), None))
    return out


def test_the_sheet_holds_the_cells_xlsxwriter_writes(tmp_path):
    csv = tmp_path / "p.csv"
    write_csv(odd_frame(), csv)
    write_xlsx(csv, tmp_path / "fast.xlsx")
    xlsxwriter_book(csv, tmp_path / "ref.xlsx")
    # XlsxWriter writes numbers with 16 digits ("%.16G": 0.1 + 0.2 becomes 0.3), the fast sheet
    # the CSV's exact value: the same cells once the numbers are taken to 16 digits.
    sixteen = [
        (r, t, float(f"{v:.16G}") if t is None else v, s)
        for r, t, v, s in sheet_cells(tmp_path / "fast.xlsx")
    ]
    assert sixteen == sheet_cells(tmp_path / "ref.xlsx")


def excel_escaped(text: str) -> str:
    """Text as the sheet holds it and openpyxl reads it back: a control character as _xHHHH_, a
    literal "_xHHHH_" with its underscore escaped (Excel itself shows the text as sent)."""
    text = re.sub(r"(_x[0-9a-fA-F]{4}_)", r"_x005F\1", text)
    return re.sub(r"([\x00-\x08\x0b-\x1f])", lambda m: f"_x{ord(m.group(1)):04X}_", text)


def test_the_workbook_opens_and_equals_the_csv(tmp_path):
    csv, xlsx = tmp_path / "p.csv", tmp_path / "p.xlsx"
    frame = odd_frame()
    for col in ("reasons", "risk_segment"):
        frame[col] = frame[col].str.slice(0, 100)  # the cut is tested above
    write_csv(frame, csv)
    write_xlsx(csv, xlsx)
    back = read_back(csv)
    sheet = openpyxl.load_workbook(xlsx, read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == list(back.columns)
    assert len(rows) == len(back) + 1
    for got, want in zip(rows[1:], back.itertuples(index=False)):
        for g, w in zip(got, want):
            if isinstance(w, str):
                assert (g or "") == excel_escaped(unescape_text(w))
            elif w != w:
                assert g is None
            else:
                assert g == w


def test_a_csv_read_in_many_blocks_gives_every_row_once_in_order(tmp_path):
    # pyarrow reads a CSV in blocks of about 1 MB: 20,000 rows with long reasons are several, of
    # fewer rows than the sheet's blocks. Every row must be in the sheet once, numbered in order
    # (a 1M-row job's workbook once held 103,592 of its rows).
    csv, xlsx = tmp_path / "p.csv", tmp_path / "p.xlsx"
    frame = hostile_frame(20_000)
    frame["reasons"] = [f"reason {i}: " + "x" * 200 for i in range(len(frame))]
    write_csv(frame, csv)
    assert read_back(csv).shape[0] == 20_000
    write_xlsx(csv, xlsx)
    cells = sheet_cells(xlsx)
    refs = [ref for ref, *_ in cells if ref.startswith("A")]
    assert refs == [f"A{r}" for r in range(1, 20_002)]  # the header, then every row
    reasons = [text for ref, _, text, _ in cells if ref.startswith(_column_letter(len(frame.columns) - 1))]
    assert reasons == ["reasons", *frame["reasons"]]


def test_an_empty_result_gives_a_header_only_workbook(tmp_path):
    csv, xlsx = tmp_path / "p.csv", tmp_path / "p.xlsx"
    write_csv(hostile_frame(10).iloc[:0], csv)
    write_xlsx(csv, xlsx)
    rows = list(openpyxl.load_workbook(xlsx).active.iter_rows(values_only=True))
    assert rows == [tuple(hostile_frame(10).columns)]
