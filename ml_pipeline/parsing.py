"""Parsing date and money columns, decided once per column from its distinct values.

Each function takes the column's distinct strings with how many rows hold each, so the work is
proportional to the distinct values (a few thousand dates) rather than the rows (millions).
A value that cannot be parsed becomes NaN and is counted as a bad row by the caller; a column
whose format is ambiguous or mixed raises, since guessing would silently corrupt every row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml_pipeline.errors import EventLogError

_TIME = r"(?:[T ,]+\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[AaPp][Mm])?\s*(?:Z|[+-]\d{2}:?\d{2}|UTC)?)?"
_DATE_FAMILIES = {
    "YYYY-MM-DD": re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})" + _TIME + "$"),
    "YYYY/MM/DD": re.compile(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})" + _TIME + "$"),
    "YYYYMMDD": re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
    "NN/NN/YYYY": re.compile(r"^(\d{1,2})([/.-])(\d{1,2})[/.-](\d{4}|\d{2})" + _TIME + "$"),
}
EPOCH = np.datetime64("1970-01-01", "D")


@dataclass
class ParsedDates:
    """Days since 1970-01-01 per distinct value (NaN where unparseable) and the format used."""

    days: np.ndarray
    format: str


def parse_dates(
    values: pd.Series,
    counts: np.ndarray,
    *,
    column: str,
    date_format: str | None = None,
    max_bad_share: float = 0.01,
    example_row=lambda value: None,
) -> ParsedDates:
    """Parse distinct date strings; raises EventLogError for mixed or ambiguous formats."""
    s = values.astype("string").str.strip()
    total = max(int(counts.sum()), 1)
    if date_format:
        parsed = pd.to_datetime(s, format=date_format, errors="coerce")
        return ParsedDates(_to_days(parsed), date_format)
    family = pd.Series(np.full(len(s), "", dtype=object), index=s.index)
    for name, rx in _DATE_FAMILIES.items():
        hit = (family == "") & s.str.match(rx).fillna(False).to_numpy(bool)
        family[hit] = name
    row_share = {f: int(counts[(family == f).to_numpy()].sum()) / total for f in _DATE_FAMILIES}
    present = [f for f, share in sorted(row_share.items(), key=lambda kv: -kv[1]) if share > 0]
    if not present:
        # Not a numeric layout: let pandas infer one format (e.g. "Jan 5, 2020") from the values.
        return _parse_free_text(s, column, example_row)
    main = present[0]
    for other in present[1:]:
        if row_share[other] > max_bad_share:
            a = s[(family == main).to_numpy()].iloc[0]
            b = s[(family == other).to_numpy()].iloc[0]
            raise EventLogError(
                f"column {column}: mixed date formats: '{a}' (row {example_row(a)}) is {main} but "
                f"'{b}' (row {example_row(b)}) is {other}; use one format or pass --date-format"
            )
    days = np.full(len(s), np.nan)
    sel = (family == main).to_numpy()
    parts = s[sel].str.extract(_DATE_FAMILIES[main])
    if main == "NN/NN/YYYY":
        first, second = parts[0].astype(int), parts[2].astype(int)
        year = parts[3].astype(int)
        year = year.where(year >= 100, year + np.where(year < 70, 2000, 1900))
        day_first_seen = bool((first > 12).any())
        month_first_seen = bool((second > 12).any())
        if day_first_seen and month_first_seen:
            a = s[sel][(first > 12).to_numpy()].iloc[0]
            b = s[sel][(second > 12).to_numpy()].iloc[0]
            raise EventLogError(
                f"column {column}: mixed date formats: '{a}' (row {example_row(a)}) is day-first but "
                f"'{b}' (row {example_row(b)}) is month-first; pass --date-format"
            )
        dotted = bool((parts[1] == ".").all())
        if not day_first_seen and not month_first_seen and not dotted:
            a = s[sel].iloc[0]
            raise EventLogError(
                f"column {column}: ambiguous dates: '{a}' (row {example_row(a)}) could be day-first or "
                f"month-first and no value settles it; pass --date-format %d/%m/%Y or %m/%d/%Y"
            )
        if day_first_seen or dotted:
            d, m, fmt = first, second, "DD/MM/YYYY"
        else:
            d, m, fmt = second, first, "MM/DD/YYYY"
        days[sel] = _ymd_to_days(year, m, d)
    else:
        days[sel] = _ymd_to_days(parts[0].astype(int), parts[1].astype(int), parts[2].astype(int))
        fmt = main
    return ParsedDates(days, fmt)


def _parse_free_text(s: pd.Series, column: str, example_row) -> ParsedDates:
    first_valid = s[s.fillna("") != ""]
    if first_valid.empty:
        return ParsedDates(np.full(len(s), np.nan), "empty")
    try:
        parsed = pd.to_datetime(s, errors="coerce", format="mixed", dayfirst=False)
    except (ValueError, TypeError):
        parsed = pd.Series(pd.NaT, index=s.index)
    if parsed.isna().all():
        a = first_valid.iloc[0]
        raise EventLogError(f"column {column}: cannot read '{a}' (row {example_row(a)}) as a date")
    numeric_like = s.str.fullmatch(r"\d{1,2}[ /.-]\d{1,2}[ /.-]\d{2,4}").fillna(False)
    if bool(numeric_like.any()):
        a = s[numeric_like.to_numpy(bool)].iloc[0]
        raise EventLogError(
            f"column {column}: ambiguous date '{a}' (row {example_row(a)}); pass --date-format"
        )
    return ParsedDates(_to_days(parsed), "free text")


def _ymd_to_days(year: pd.Series, month: pd.Series, day: pd.Series) -> np.ndarray:
    frame = pd.DataFrame({"year": year.to_numpy(), "month": month.to_numpy(), "day": day.to_numpy()})
    valid = frame["year"].between(1900, 2199) & frame["month"].between(1, 12) & frame["day"].between(1, 31)
    out = np.full(len(frame), np.nan)
    if valid.any():
        dt = pd.to_datetime(frame[valid], errors="coerce")
        out[valid.to_numpy()] = _to_days(dt)
    return out


def _to_days(parsed: pd.Series) -> np.ndarray:
    dt = pd.Series(parsed)
    if getattr(dt.dt, "tz", None) is not None:
        dt = dt.dt.tz_localize(None)
    arr = dt.to_numpy(dtype="datetime64[ns]")
    out = (arr.astype("datetime64[D]") - EPOCH).astype("float64")
    out[np.isnat(arr)] = np.nan
    return out


_CURRENCY = re.compile(r"[$€£¥₹]|\b(?:USD|EUR|GBP|CHF|JPY|CAD|AUD|INR)\b|\s|'|\u00a0", re.IGNORECASE)
_DECIMAL_COMMA = re.compile(r"^[+-]?\d*,\d{1,2}$|^[+-]?\d{1,3}(?:\.\d{3})+,\d+$|^[+-]?\d+,\d{4,}$")
_DECIMAL_DOT = re.compile(r"^[+-]?\d*\.\d{1,2}$|^[+-]?\d{1,3}(?:,\d{3})+\.\d+$|^[+-]?\d+\.\d{4,}$")


def parse_amounts(values: pd.Series, *, column: str, example_row=lambda value: None) -> np.ndarray:
    """Parse distinct money strings ("1,234.50", "$12", "(3.00)", "12,50") to floats.

    Empty means 0; anything else that is not a number is NaN (a bad row). The decimal separator is
    decided for the whole column; a column that uses both styles raises.
    """
    s = values.astype("string").fillna("").str.strip()
    fast = pd.to_numeric(s.where(s != "", "0"), errors="coerce")
    if not fast.isna().any():
        return fast.to_numpy(dtype="float64")
    negative = s.str.match(r"^\(.*\)$") | s.str.endswith("-")
    cleaned = s.str.replace(_CURRENCY, "", regex=True).str.strip("()").str.rstrip("-")
    cleaned = cleaned.where(~negative, "-" + cleaned)
    comma_style = cleaned.str.match(_DECIMAL_COMMA).fillna(False)
    dot_style = cleaned.str.match(_DECIMAL_DOT).fillna(False)
    if comma_style.any() and dot_style.any():
        a = s[comma_style.to_numpy(bool)].iloc[0]
        b = s[dot_style.to_numpy(bool)].iloc[0]
        raise EventLogError(
            f"column {column}: mixed number styles: '{a}' (row {example_row(a)}) uses a decimal comma, "
            f"'{b}' (row {example_row(b)}) a decimal point"
        )
    if comma_style.any():
        normalized = cleaned.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    else:
        normalized = cleaned.str.replace(",", "", regex=False)
    out = pd.to_numeric(normalized.where(normalized != "", "0"), errors="coerce")
    return out.to_numpy(dtype="float64")
