"""Result files keep ids intact: formulas are neutralized, numbers and phone numbers are not."""

from __future__ import annotations

import openpyxl
import pandas as pd
import pytest

from hcl_server.services.exports import escape_frame, escape_text, unescape_text, write_xlsx
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
    escape_frame(rounded(frame)).to_csv(csv, index=False)
    assert "0.1235,Low,12.35" in csv.read_text()
    write_xlsx(csv, xlsx)
    rows = list(openpyxl.load_workbook(xlsx).active.iter_rows(min_row=2))
    assert [r[0].value for r in rows] == SENT
    assert all(r[0].data_type == "s" for r in rows)
    assert rows[0][1].value == 0.1235 and rows[0][1].data_type == "n"
    assert rows[0][3].value == 12.35
