"""Rolling cutoffs and the time-based train/validation split (SPEC §2).

Cutoffs are ``t_k = as_of - label_days - k * step`` where ``label_days`` is the longer of the
spend and churn horizons, so every label window ``[t_k, t_k + label_days)`` ends by ``as_of``.
The latest cutoffs validate; a cutoff trains only if its label window ends by the first
validation cutoff, so no training label reaches into the validation period.

A log too short for the default plan gets a shorter one (:func:`choose_plan`): less history
before the earliest cutoff and, when that leaves few training cutoffs, a smaller step. The
horizons never change (they define what is predicted) and neither does the rule above.
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
    min_history_days: int = 60

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


# The history before the earliest cutoff that shorter plans may keep, longest first, and the
# smallest step between cutoffs (a week: the weekly features still move from one to the next).
HISTORY_CHOICES = (60, 45, 30, 21, 14)
MIN_STEP_DAYS = 7
FEW_TRAINING_CUTOFFS = 3  # fewer than this with the default step: try a smaller step


def days_needed(label_days: int, min_history_days: int = HISTORY_CHOICES[-1]) -> int:
    """Days a log must span before the as-of date for a training and a validation cutoff."""
    return min_history_days + 2 * label_days


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
    plan = _layout(
        first_day,
        as_of,
        horizon_days,
        churn_horizon_days,
        n_cutoffs,
        step_days,
        n_validation,
        min_history_days,
    )
    if plan is None:
        label_days = max(horizon_days, churn_horizon_days)
        step = step_days or label_days
        need = min_history_days + label_days + max(step, label_days)
        raise PipelineError(
            f"the log spans {as_of - first_day} days before the as-of date {day_to_date(as_of)}; with a "
            f"{label_days}-day horizon it needs at least {need} days (history, a training window "
            "and a validation window)"
        )
    return plan


def choose_plan(
    first_day: int,
    as_of: int,
    *,
    horizon_days: int = 30,
    churn_horizon_days: int = 30,
    n_cutoffs: int = 12,
    step_days: int | None = None,
    min_history_days: int = 60,
) -> tuple[WindowPlan | None, str]:
    """The default plan when it fits, else the shorter plan that keeps the most history, else None;
    with a sentence saying why ("" for the default plan). Raises PipelineError for bad settings.

    A shorter plan keeps ``HISTORY_CHOICES``' longest history that fits and the default step,
    unless that leaves fewer than ``FEW_TRAINING_CUTOFFS`` training cutoffs: then the largest
    step of ``label_days / 2, / 3, ...`` (at least ``MIN_STEP_DAYS``) that gives more. A step
    given by the caller is kept.
    """
    args = (horizon_days, churn_horizon_days, n_cutoffs)
    plan = _layout(first_day, as_of, *args, step_days, 1, min_history_days)
    if plan is not None:
        return plan, ""
    label_days = max(horizon_days, churn_horizon_days)
    span, default_need = as_of - first_day, days_needed(label_days, min_history_days)
    short = f"the log spans {span} days before the as-of date {day_to_date(as_of)}"
    for history in (h for h in HISTORY_CHOICES if h < min_history_days):
        plan = _layout(first_day, as_of, *args, step_days, 1, history)
        if plan is None:
            continue
        if step_days is None and len(plan.training) < FEW_TRAINING_CUTOFFS:
            plan = _more_cutoffs(first_day, as_of, args, history, plan)
        return plan, (
            f"shorter windows: {short}, the default plan needs {default_need} ({min_history_days} days of "
            f"history, a training and a validation window of {label_days} days); trained on "
            f"{len(plan.training)} training cutoff(s) {plan.step_days} days apart after {history} days "
            "of history"
        )
    return None, (
        f"{short}; rolling windows with a {label_days}-day horizon need at least "
        f"{days_needed(label_days)} ({HISTORY_CHOICES[-1]} days of history, a training and a "
        "validation window); a longer log or shorter horizons (--horizon-days, --churn-horizon-days; "
        "API: horizon_days, churn_horizon_days) would allow them"
    )


def _more_cutoffs(first_day: int, as_of: int, args: tuple, history: int, plan: WindowPlan) -> WindowPlan:
    """``plan`` with the largest smaller step that gives it more training cutoffs, if any."""
    label_days = plan.label_days
    steps = [label_days // d for d in range(2, label_days + 1) if label_days // d >= MIN_STEP_DAYS]
    best = plan
    for step in dict.fromkeys(steps):
        candidate = _layout(first_day, as_of, *args, step, 1, history)
        if candidate is not None and len(candidate.training) > len(best.training):
            best = candidate
            if len(best.training) >= FEW_TRAINING_CUTOFFS:
                break
    return best


def _layout(
    first_day: int,
    as_of: int,
    horizon_days: int,
    churn_horizon_days: int,
    n_cutoffs: int,
    step_days: int | None,
    n_validation: int,
    min_history_days: int,
) -> WindowPlan | None:
    """The plan, or None when it has no training or no validation cutoff; raises PipelineError
    for settings below 1."""
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
        return None
    return WindowPlan(
        as_of,
        horizon_days,
        churn_horizon_days,
        step,
        tuple(cutoffs),
        tuple(validation),
        tuple(training),
        min_history_days,
    )
