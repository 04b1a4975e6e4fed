"""The optional churn label column (SPEC §1 ``churn_label``): read per row, kept per customer.

The label belongs to a customer but rides on their event rows, so a file may state it on every
row, on some, or differently on different rows (a status that changed). Values are 0/1,
true/false or yes/no in any case; a blank cell says nothing. A customer's label is the value on
their latest event row that has one (the latest day, then the later row of the file); customers
whose rows disagree are counted in a warning. Only files with such a column pay for any of this.
"""

from __future__ import annotations

import numpy as np

from ml_pipeline.data.arrow_columns import distinct_values
from ml_pipeline.errors import EventLogError

FIELD = "churn_label"
_WORDS = {
    "1": 1.0,
    "0": 0.0,
    "1.0": 1.0,
    "0.0": 0.0,
    "true": 1.0,
    "false": 0.0,
    "yes": 1.0,
    "no": 0.0,
    "": np.nan,
}
ACCEPTED = "0/1, true/false or yes/no in any case, blank for unknown"


def read_row_labels(table, cols: dict[str, str], rows: np.ndarray, row_of, source: str, warnings: list[str]):
    """The churn label of each of ``rows`` (table indices of the rows kept) as float64, NaN where
    blank; None when the file has no churn label column.

    A column none of whose values is a label word (a ``label`` column of product tags, found by
    its name) is not a churn label: it is left out with a warning, however it was matched. A column holding label
    words and something else is refused: EventLogError naming the first such row (``row_of``:
    table index -> file row), the column, the value and the ways past it.
    """
    header = cols.get(FIELD)
    if header is None:
        return None
    values, codes = distinct_values(table.column(header))
    words = values.fillna("").str.strip().str.lower()
    parsed = words.map(_WORDS).to_numpy(dtype=float, na_value=np.nan)
    known = words.isin(list(_WORDS)).to_numpy(bool)
    used = np.bincount(codes[rows], minlength=len(values)) > 0
    if (known | ~used).all():
        return parsed[codes[rows]]
    if not (known & used & (words != "").to_numpy(bool)).any():
        warnings.append(
            f"column '{header}' was not read as a churn label: its values (e.g. "
            f"'{values[used & ~known].iloc[0]}') are not 0/1, true/false or yes/no"
        )
        return None
    bad_code = np.flatnonzero(used & ~known)
    first = rows[np.flatnonzero(np.isin(codes[rows], bad_code))[0]]
    value = values.iloc[int(codes[first])]
    raise EventLogError(
        f"{source}: {header} value '{value}' in row {row_of(int(first))} is not a churn label "
        f"(a label is {ACCEPTED}); correct the value in the file, or map the churn label to another column "
        f"with --column {FIELD}=HEADER, or read the file without one with --column {FIELD}="
    )


def customer_labels(
    label: np.ndarray, customer: np.ndarray, day: np.ndarray, file_row: np.ndarray, n_customers: int
) -> tuple[np.ndarray, int]:
    """(label per customer code, float64 NaN = unknown; customers whose rows disagree).

    Arguments are per kept row: the row's label (NaN = blank), customer code (< n_customers), day
    and file row. A customer's label is the one on their latest row with a value. Only the rows of
    customers whose rows disagree are put in order, so a consistent column costs two counts.
    """
    known = np.flatnonzero(~np.isnan(label))
    cust = customer[known]
    ones = np.bincount(cust, weights=label[known], minlength=n_customers)
    counts = np.bincount(cust, minlength=n_customers)
    out = np.where(counts > 0, (ones > 0).astype(float), np.nan)
    mixed = (ones > 0) & (ones < counts)
    if mixed.any():
        rows = known[mixed[cust]]
        rows = rows[np.lexsort((file_row[rows], day[rows], customer[rows]))]
        last = np.r_[customer[rows][1:] != customer[rows][:-1], True]
        out[customer[rows][last]] = label[rows][last]
    return out, int(mixed.sum())


def label_note(header: str, labels: np.ndarray, conflicts: int, warnings: list[str]) -> str:
    """What was read from the label column (for the profile); adds the disagreement warning."""
    known = ~np.isnan(labels)
    if conflicts:
        warnings.append(
            f"{conflicts} customer(s) have more than one value in the churn label column '{header}'; "
            "each one's label is the value on their latest event row"
        )
    return (
        f"{header}: churn label of {int(known.sum())} customer(s), {int(np.nansum(labels))} of them 1; "
        f"{int((~known).sum())} without one"
    )
