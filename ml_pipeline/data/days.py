"""Day numbers, the pipeline's one date unit: days since 1970-01-01, and the as-of date check."""

from __future__ import annotations

import numpy as np

from ml_pipeline.errors import PipelineError

EPOCH = np.datetime64("1970-01-01", "D")


def day_to_date(day: int) -> str:
    """ISO date of a day number (days since 1970-01-01)."""
    return str(EPOCH + np.timedelta64(int(day), "D"))


def date_to_day(text: str) -> int:
    """Day number of an ISO date; raises PipelineError for anything else."""
    try:
        return int((np.datetime64(text, "D") - EPOCH).astype(int))
    except ValueError as exc:
        raise PipelineError(f"'{text}' is not a date in YYYY-MM-DD form") from exc


def as_of_after(last_day: int, as_of: int | None, what: str = "events", option: str = "--as-of") -> int:
    """``as_of``, or the day after ``last_day`` when it is None; raises PipelineError when
    ``last_day`` is not before it (``what`` and ``option`` name the events and the way out)."""
    if as_of is None:
        return last_day + 1
    if last_day >= as_of:
        raise PipelineError(
            f"{what} are dated on or after the as-of date {day_to_date(as_of)} (the last is "
            f"{day_to_date(last_day)}); remove them or pass a later {option}"
        )
    return as_of


def check_as_of(days: np.ndarray, as_of: int | None) -> int:
    """The as-of day for events on ``days`` (ascending day numbers; default: the day after the
    last); raises PipelineError when events fall on or after it."""
    last = int(days[-1])
    late = as_of is not None and last >= as_of
    return as_of_after(last, as_of, f"{int((days >= as_of).sum())} event(s)" if late else "events")
