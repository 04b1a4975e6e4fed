"""Parsing date and money columns, decided once per column from its distinct values.

Each function takes the column's distinct strings with how many rows hold each, so the work is
proportional to the distinct values (a few thousand dates) rather than the rows (millions).
A value that cannot be parsed becomes NaN and is counted as a bad row by the caller; a column
whose format is ambiguous or mixed raises, since guessing would silently corrupt every row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from ml_pipeline.data.days import EPOCH
from ml_pipeline.errors import EventLogError

SERIAL = "spreadsheet serial days"
_TIME = r"(?:[T ,]+\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[AaPp][Mm])?\s*(?:Z|[+-]\d{2}:?\d{2}|UTC)?)?"
_DATE_FAMILIES = {
    "YYYY-MM-DD": re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})" + _TIME + "$"),
    "YYYY/MM/DD": re.compile(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})" + _TIME + "$"),
    "YYYYMMDD": re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
    "NN/NN/YYYY": re.compile(r"^(\d{1,2})([/.-])(\d{1,2})[/.-](\d{4}|\d{2})" + _TIME + "$"),
    # A spreadsheet's serial day number (days since 1899-12-30; 20000-79999 is 1954-2119), as a
    # date cell turns into when a sheet is saved as CSV or the cell lost its date format.
    SERIAL: re.compile(r"^([2-7]\d{4})(?:\.\d+)?$"),
}
_SERIAL_EPOCH = -25569  # 1899-12-30 in days since 1970-01-01


@dataclass
class ParsedDates:
    """Days since 1970-01-01 per distinct value (NaN where unparseable), the format used, and
    notes on what was read in another way (spreadsheet serial day numbers)."""

    days: np.ndarray
    format: str
    notes: list[str] = field(default_factory=list)


@dataclass
class DateEvidence:
    """What a column's values say about their date format; merged across batches of one file.

    Examples are (value, row) pairs, kept so an error can name a row even when the rows were
    seen in an earlier batch.
    """

    rows: int = 0
    family_rows: dict[str, int] = field(default_factory=dict)
    family_example: dict[str, tuple[str, object]] = field(default_factory=dict)
    day_first: tuple[str, object] | None = None  # NN/NN/YYYY value whose first number is > 12
    month_first: tuple[str, object] | None = None  # ... whose second number is > 12
    undotted: tuple[str, object] | None = None  # NN/NN/YYYY value not written with dots
    unmatched: tuple[str, object] | None = None  # a non-empty value of no numeric family

    def merge(self, other: DateEvidence) -> DateEvidence:
        out = DateEvidence(rows=self.rows + other.rows)
        for f in {*self.family_rows, *other.family_rows}:
            out.family_rows[f] = self.family_rows.get(f, 0) + other.family_rows.get(f, 0)
        out.family_example = {**other.family_example, **self.family_example}
        for name in ("day_first", "month_first", "undotted", "unmatched"):
            setattr(out, name, getattr(self, name) or getattr(other, name))
        return out


def date_evidence(values: pd.Series, counts: np.ndarray, example_row=lambda value: None) -> DateEvidence:
    """Summarize distinct date strings (with their row counts) for :func:`decide_date_format`."""
    s = values.astype("string").str.strip()
    ev = DateEvidence(rows=int(counts.sum()))
    family = _families(s)
    for name in _DATE_FAMILIES:
        sel = (family == name).to_numpy()
        if sel.any():
            ev.family_rows[name] = int(counts[sel].sum())
            a = s[sel].iloc[0]
            ev.family_example[name] = (a, example_row(a))
    nn = (family == "NN/NN/YYYY").to_numpy()
    if nn.any():
        parts = s[nn].str.extract(_DATE_FAMILIES["NN/NN/YYYY"])
        first, second = parts[0].astype(int).to_numpy(), parts[2].astype(int).to_numpy()
        for name, hit in (
            ("day_first", first > 12),
            ("month_first", second > 12),
            ("undotted", (parts[1] != ".").to_numpy()),
        ):
            if hit.any():
                a = s[nn][hit].iloc[0]
                setattr(ev, name, (a, example_row(a)))
    other = ((family == "") & (s.fillna("") != "")).to_numpy()
    if other.any():
        a = s[other].iloc[0]
        ev.unmatched = (a, example_row(a))
    return ev


def decide_date_format(ev: DateEvidence, *, column: str, max_bad_share: float = 0.01) -> str:
    """The date format for a whole column, or EventLogError for mixed or ambiguous formats."""
    total = max(ev.rows, 1)
    present = sorted(ev.family_rows, key=lambda f: -ev.family_rows[f])
    if len(present) > 1 and SERIAL in present:
        present.remove(SERIAL)  # serial day numbers are read beside any other format
    if not present:
        return "free text" if ev.unmatched else "empty"
    main = present[0]
    for other in present[1:]:
        if ev.family_rows[other] / total > max_bad_share:
            (a, ra), (b, rb) = ev.family_example[main], ev.family_example[other]
            raise EventLogError(
                f"column {column}: mixed date formats: '{a}' (row {ra}) is {main} but "
                f"'{b}' (row {rb}) is {other}; use one format or pass --date-format"
            )
    if main != "NN/NN/YYYY":
        return main
    if ev.day_first and ev.month_first:
        (a, ra), (b, rb) = ev.day_first, ev.month_first
        raise EventLogError(
            f"column {column}: mixed date formats: '{a}' (row {ra}) is day-first but "
            f"'{b}' (row {rb}) is month-first; pass --date-format"
        )
    if ev.day_first or not ev.undotted:
        return "DD/MM/YYYY"
    if ev.month_first:
        return "MM/DD/YYYY"
    a, ra = ev.family_example[main]
    raise EventLogError(
        f"column {column}: ambiguous dates: '{a}' (row {ra}) could be day-first or "
        f"month-first and no value settles it; pass --date-format %d/%m/%Y or %m/%d/%Y"
    )


def parse_dates(
    values: pd.Series,
    counts: np.ndarray,
    *,
    column: str,
    date_format: str | None = None,
    decided: str | None = None,
    max_bad_share: float = 0.01,
    example_row=lambda value: None,
) -> ParsedDates:
    """Parse distinct date strings; raises EventLogError for mixed or ambiguous formats.

    ``date_format`` is the user's strftime format; ``decided`` a format already chosen by
    :func:`decide_date_format` for the whole file (when the values are one part of it).
    """
    s = values.astype("string").str.strip()
    if decided and "%" in decided:  # the user's format, recorded as the file's
        date_format = decided
    if date_format:
        parsed = pd.to_datetime(s, format=date_format, errors="coerce")
        return ParsedDates(_to_days(parsed), date_format)
    if decided is None:
        ev = date_evidence(s, counts, example_row)
        decided = decide_date_format(ev, column=column, max_bad_share=max_bad_share)
    if decided == "empty":
        return ParsedDates(np.full(len(s), np.nan), "empty")
    if decided == "free text":
        return _parse_free_text(s, column, example_row)
    family = "NN/NN/YYYY" if decided in ("DD/MM/YYYY", "MM/DD/YYYY") else decided
    days = np.full(len(s), np.nan)
    families = _families(s)
    notes = _read_serials(s, families, days, counts, example_row) if family != SERIAL else []
    sel = (families == family).to_numpy()
    parts = s[sel].str.extract(_DATE_FAMILIES[family])
    if family == "NN/NN/YYYY":
        first, second = parts[0].astype(int), parts[2].astype(int)
        year = parts[3].astype(int)
        year = year.where(year >= 100, year + np.where(year < 70, 2000, 1900))
        d, m = (first, second) if decided == "DD/MM/YYYY" else (second, first)
        days[sel] = _ymd_to_days(year, m, d)
    elif family == SERIAL:
        notes = _read_serials(s, families, days, counts, example_row)
    else:
        days[sel] = _ymd_to_days(parts[0].astype(int), parts[1].astype(int), parts[2].astype(int))
    return ParsedDates(days, decided, notes)


def _read_serials(
    s: pd.Series, families: pd.Series, days: np.ndarray, counts: np.ndarray, example_row
) -> list[str]:
    """Fill ``days`` for the values that are spreadsheet serial day numbers; a note when any are."""
    sel = (families == SERIAL).to_numpy()
    if not sel.any():
        return []
    serial = s[sel].str.extract(_DATE_FAMILIES[SERIAL])[0].astype(int).to_numpy()
    days[sel] = serial + _SERIAL_EPOCH
    a = s[sel].iloc[0]
    date = (np.datetime64("1970-01-01") + np.timedelta64(int(serial[0]) + _SERIAL_EPOCH, "D")).astype(str)
    return [
        f"{int(counts[sel].sum())} date(s) written as spreadsheet serial day numbers read as dates "
        f"(e.g. {a} in row {example_row(a)} is {date})"
    ]


def _families(s: pd.Series) -> pd.Series:
    """The numeric date family of each value ("" for none), first match wins."""
    family = pd.Series(np.full(len(s), "", dtype=object), index=s.index)
    for name, rx in _DATE_FAMILIES.items():
        hit = (family == "") & s.str.match(rx).fillna(False).to_numpy(bool)
        family[hit] = name
    return family


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


_CURRENCY = re.compile(
    r"[$€£¥₹]|\b(?:USD|EUR|GBP|CHF|JPY|CAD|AUD|INR|CLP|MXN|COP|ARS|BRL)\b|\s|'|\u00a0", re.IGNORECASE
)
_DECIMAL_COMMA = re.compile(r"^[+-]?\d*,\d{1,2}$|^[+-]?\d{1,3}(?:\.\d{3})+,\d+$|^[+-]?\d+,\d{4,}$")
_DECIMAL_DOT = re.compile(r"^[+-]?\d*\.\d{1,2}$|^[+-]?\d{1,3}(?:,\d{3})+\.\d+$|^[+-]?\d+\.\d{4,}$")
# Two or more groups of three digits after a separator: it can only be grouping thousands.
_GROUPED_DOT = re.compile(r"^[+-]?\d{1,3}(?:\.\d{3}){2,}$")
_GROUPED_COMMA = re.compile(r"^[+-]?\d{1,3}(?:,\d{3}){2,}$")
# One separator followed by exactly three digits: a thousands separator or three decimals.
_AMBIGUOUS = re.compile(r"^[+-]?\d{1,3}[.,]\d{3}$")
_ACCOUNTING_ZERO = ("-", "–", "—")  # an accounting format's zero, e.g. "$ -"


@dataclass
class AmountEvidence:
    """Examples (value, row) of what a money column shows about its separators; merged across
    batches. ``comma``/``dot``: a decimal comma or point; ``grouped_dot``/``grouped_comma``: a
    dot or comma that can only group thousands (1.250.000); ``ambiguous``: 26.560 or 1,250."""

    comma: tuple[str, object] | None = None
    dot: tuple[str, object] | None = None
    grouped_dot: tuple[str, object] | None = None
    grouped_comma: tuple[str, object] | None = None
    ambiguous: tuple[str, object] | None = None

    def merge(self, other: AmountEvidence) -> AmountEvidence:
        return AmountEvidence(
            *(getattr(self, f.name) or getattr(other, f.name) for f in fields(AmountEvidence))
        )

    def _decimal_comma(self) -> tuple[str, object] | None:
        return self.comma or self.grouped_dot

    def _decimal_dot(self) -> tuple[str, object] | None:
        return self.dot or self.grouped_comma

    def both(self) -> bool:
        return bool(self._decimal_comma() and self._decimal_dot())

    def decide(self, column: str) -> str:
        """ "comma" or "dot" (the decimal separator); EventLogError when both are used, or when
        a value such as 26.560 could be either and no value settles it."""
        comma, dot = self._decimal_comma(), self._decimal_dot()
        if comma and dot:
            (a, ra), (b, rb) = comma, dot
            raise EventLogError(
                f"column {column}: mixed number styles: '{a}' (row {ra}) uses a decimal comma, "
                f"'{b}' (row {rb}) a decimal point; pass --decimal comma or --decimal dot"
            )
        if comma:
            return "comma"
        if dot or not self.ambiguous:
            return "dot"
        a, ra = self.ambiguous
        sep = "dot" if "." in a else "comma"
        grouped, decimal = ("comma", "dot") if sep == "dot" else ("dot", "comma")
        raise EventLogError(
            f"column {column}: ambiguous amount '{a}' (row {ra}): the {sep} may group thousands or "
            f"mark decimals, and no value in the file settles it; pass --decimal {grouped} if the "
            f"{sep} groups thousands, or --decimal {decimal} if it marks decimals"
        )


def _clean_amounts(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    s = values.astype("string").fillna("").str.strip()
    bare = s.str.replace(_CURRENCY, "", regex=True)
    # Accounting negatives: "(3.00)", "$ (3.00)", "($3.00)", "3.00-"
    negative = bare.str.match(r"^\(.*\)$") | s.str.endswith("-")
    cleaned = bare.str.strip("()")
    cleaned = cleaned.where(~cleaned.isin(_ACCOUNTING_ZERO), "0").str.rstrip("-")
    return s, cleaned.where(~negative | (cleaned == "0"), "-" + cleaned)


_EVIDENCE_PATTERNS = (
    ("comma", _DECIMAL_COMMA),
    ("dot", _DECIMAL_DOT),
    ("grouped_dot", _GROUPED_DOT),
    ("grouped_comma", _GROUPED_COMMA),
    ("ambiguous", _AMBIGUOUS),
)


def amount_evidence(values: pd.Series, example_row=lambda value: None) -> AmountEvidence:
    """What distinct money strings show about their separators (see :class:`AmountEvidence`)."""
    s, cleaned = _clean_amounts(values)
    ev = AmountEvidence()
    for name, rx in _EVIDENCE_PATTERNS:
        hit = cleaned.str.match(rx).fillna(False).to_numpy(bool)
        if hit.any():
            a = s[hit].iloc[0]
            setattr(ev, name, (a, example_row(a)))
    return ev


def parse_amounts(
    values: pd.Series, *, column: str, style: str | None = None, example_row=lambda value: None
) -> tuple[np.ndarray, str]:
    """Parse distinct money strings ("1,234.50", "$12", "(3.00)", "12,50", "$ -") to floats.

    Returns (float64 per value, the decimal style used: "dot" or "comma"). Empty means 0;
    anything else that is not a number is NaN (a bad row). The decimal separator is decided for
    the whole column (or given as ``style`` when these values are one part of a file); a column
    that uses both styles, or whose values could be read either way (26.560), raises.
    """
    s = values.astype("string").fillna("").str.strip()
    fast = pd.to_numeric(s.where(s != "", "0"), errors="coerce")
    if not fast.isna().any() and style != "comma":
        if style is None and s.str.match(_AMBIGUOUS).any():
            style = amount_evidence(values, example_row).decide(column)
        if style != "comma":
            return fast.to_numpy(dtype="float64"), "dot"
    if style is None:
        style = amount_evidence(values, example_row).decide(column)
    _, cleaned = _clean_amounts(values)
    if style == "comma":
        normalized = cleaned.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    else:
        normalized = cleaned.str.replace(",", "", regex=False)
    out = pd.to_numeric(normalized.where(normalized != "", "0"), errors="coerce")
    return out.to_numpy(dtype="float64"), style
