"""Rolling cutoffs and the time-based train/validation split (SPEC §2).

Cutoffs are ``t_k = as_of - label_days - k * step`` where ``label_days`` is the longer of the
spend and churn horizons, so every label window ``[t_k, t_k + label_days)`` ends by ``as_of``.
The latest cutoffs validate; a cutoff trains only if its label window ends by the first
validation cutoff, so no training label reaches into the validation period.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ml_pipeline.data.days import day_to_date
from ml_pipeline.errors import PipelineError


@dataclass(frozen=True)
class WindowPlan:
    """Which cutoffs exist and which of them train or validate."""

    as_of: int
    horizon_days: int
    churn_horizon_days: int
    step_days: int
    cutoffs: tuple[int, ...]  # newest first
    validation: tuple[int, ...]
    training: tuple[int, ...]

    @property
    def label_days(self) -> int:
        return max(self.horizon_days, self.churn_horizon_days)

    def describe(self) -> dict:
        """The plan with ISO dates, for metadata and summaries."""
        d = asdict(self)
        for key in ("cutoffs", "validation", "training"):
            d[key] = [day_to_date(t) for t in d[key]]
        d["as_of"] = day_to_date(self.as_of)
        return d


def plan_windows(
    first_day: int,
    as_of: int,
    *,
    horizon_days: int = 30,
    churn_horizon_days: int = 30,
    n_cutoffs: int = 12,
    step_days: int | None = None,
    n_validation: int = 1,
    min_history_days: int = 60,
) -> WindowPlan:
    """Lay out cutoffs back from ``as_of``; raises PipelineError if the log is too short."""
    for name, value in (
        ("horizon_days", horizon_days),
        ("churn_horizon_days", churn_horizon_days),
        ("n_cutoffs", n_cutoffs),
        ("n_validation", n_validation),
    ):
        if value < 1:
            raise PipelineError(f"{name} must be at least 1 (got {value})")
    label_days = max(horizon_days, churn_horizon_days)
    step = step_days or label_days
    if step < 1:
        raise PipelineError(f"step_days must be at least 1 (got {step})")
    cutoffs = [as_of - label_days - k * step for k in range(n_cutoffs)]
    cutoffs = [t for t in cutoffs if t - first_day >= min_history_days]
    validation = cutoffs[:n_validation]
    training = [t for t in cutoffs[n_validation:] if validation and t + label_days <= min(validation)]
    if not validation or not training:
        span = as_of - first_day
        need = min_history_days + label_days + max(step, label_days)
        raise PipelineError(
            f"the log spans {span} days before the as-of date {day_to_date(as_of)}; with a "
            f"{label_days}-day horizon it needs at least {need} days (history, a training window "
            "and a validation window)"
        )
    return WindowPlan(
        as_of, horizon_days, churn_horizon_days, step, tuple(cutoffs), tuple(validation), tuple(training)
    )
