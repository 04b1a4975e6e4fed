"""Churn learned from the log's own churn label column (``--churn-label``) instead of the label
derived from purchases ("no purchase in the next churn_horizon_days").

The label has no date, so it cannot be spread over the rolling cutoffs: features are computed at
the as-of date (every event before it), one row per labelled customer. Validation is therefore
not a later time window but a stratified random share of the labelled customers held out from
every fit; candidates stop early on a further split of the rest. The baseline and the zoo's
models compete as on rolling windows (:class:`~ml_pipeline.training.selection.TargetSelection`,
on a customer split instead of a time split), and the winner is refit on every labelled
customer with the rounds validation chose. The churn target's metrics say all of this under
``label``, so a reader sees which label was learned.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from sklearn.metrics import roc_auc_score

from ml_pipeline.data.eventlog import EventLog
from ml_pipeline.data.labels import FIELD
from ml_pipeline.errors import PipelineError
from ml_pipeline.features import FeatureBuilder
from ml_pipeline.training.config import TrainConfig
from ml_pipeline.training.importance import importance
from ml_pipeline.training.selection import TargetResult, TargetSelection, TimeSplit
from ml_pipeline.training.windows import WindowPlan

MIN_LABELLED = 20  # fewer labelled customers cannot be split into a fit and a held-out share
HELD_OUT = 0.2
# A label that days-since-last-purchase alone ranks this well on held-out customers was most
# likely computed from the log's own recency: a model learns nothing new from it.
LEAK_AUC = 0.99
VALIDATION = (
    f"{HELD_OUT:.0%} of labelled customers held out at random, stratified "
    "(not a later time window: the label has no date)"
)


def header_of(log: EventLog) -> str:
    """The file's header the churn label was read from."""
    return log.info.get("columns", {}).get(FIELD, FIELD)


def check_labels(log: EventLog) -> None:
    """Refuse, with the counts and the way out, a log whose churn labels cannot be learned from."""
    if log.churn_label is None:
        raise PipelineError(
            "churn from the churn label was asked for (--churn-label / training-job field churn_label), "
            f"but the log has no churn label column: add one (0/1, yes/no or true/false per customer; "
            f"recognized headers: {FIELD}, churn, churned, is_churned, label) or map it with "
            f"--column {FIELD}=HEADER, or train without --churn-label to learn the churn derived from purchases"
        )
    y = log.churn_label[~np.isnan(log.churn_label)]
    positives = int(y.sum())
    why = ""
    if len(y) < MIN_LABELLED:
        why = f"only {len(y)} customer(s) have a churn label (at least {MIN_LABELLED} are needed)"
    elif positives in (0, len(y)):
        why = (
            f"all {len(y)} labelled customers have label {int(y[0])} (a single class: nothing to tell apart)"
        )
    if why:
        raise PipelineError(
            f"cannot learn churn from the column '{header_of(log)}': {why}; {positives} labelled 1, "
            f"{len(y) - positives} labelled 0, {int(np.isnan(log.churn_label).sum())} unknown; "
            "label more customers, or train without --churn-label"
        )


def unused_label_warning(log: EventLog) -> str | None:
    """Silence would be a bug: the warning for a label column that training does not use."""
    if log.churn_label is None:
        return None
    n = int((~np.isnan(log.churn_label)).sum())
    if n == 0:
        return None
    return (
        f"the column {header_of(log)} holds churn labels for {n} customers and is not used; pass "
        '--churn-label (CLI) / "churn_label": true (training-job field) to learn from it'
    )


def held_out_split(y: np.ndarray, share: float, seed: int) -> np.ndarray:
    """A stratified random ``share`` of the rows (bool mask): that share of each class, at
    least one row of a class with two or more."""
    rng = np.random.default_rng(seed)
    out = np.zeros(len(y), dtype=bool)
    for value in np.unique(y):
        idx = np.flatnonzero(y == value)
        k = max(1, round(share * len(idx))) if len(idx) > 1 else 0
        out[rng.choice(idx, k, replace=False)] = True
    return out


def customer_split(y: np.ndarray, seed: int) -> TimeSplit:
    """The roles of labelled customers: ``valid`` the held-out share, ``train`` the rest,
    ``inner_valid`` a further share of ``train`` that candidates stop early on, ``inner`` what
    they are fit on."""
    valid = held_out_split(y, HELD_OUT, seed)
    train = ~valid
    inner_valid = np.zeros(len(y), dtype=bool)
    inner_valid[np.flatnonzero(train)[held_out_split(y[train], HELD_OUT, seed + 1)]] = True
    return TimeSplit(train=train, valid=valid, inner=train & ~inner_valid, inner_valid=inner_valid)


def train_churn_on_labels(
    log: EventLog, builder: FeatureBuilder, plan: WindowPlan, config: TrainConfig, as_of: int
) -> tuple[TargetResult, list[str]]:
    """The churn target learned from ``log.churn_label`` (see the module); returns the result
    and warnings (customers left out, a label that looks derived from recency).

    Call :func:`check_labels` first."""
    X_all = builder.transform(log, as_of)
    y_all = log.churn_label[X_all.index.to_numpy()]
    labelled = ~np.isnan(y_all)
    X, y = X_all[labelled].reset_index(drop=True), y_all[labelled]
    warnings = []
    unknown = int((~labelled).sum())
    if unknown:
        warnings.append(
            f"{unknown} customer(s) have no churn label in '{header_of(log)}': left out of churn "
            "training, still scored"
        )
    check_counts(y, header_of(log))
    split = customer_split(y, config.random_state)
    # No calibration shift: it sets the level on the latest labelled time window, and a label
    # without a date has no such window (the held-out customers are a random share, not later).
    selection = TargetSelection(X, split, builder, plan, replace(config, calibrate_churn=False))
    result = selection.train("churn", y)
    result.importance = importance(result.estimator, X[split.valid], config.random_state)
    recency_auc = _recency_auc(X, y, split.valid)
    result.metrics["label"] = {
        "source": f"churn_label column {header_of(log)}",
        "validation": VALIDATION,
        "customers": int(len(y)),
        "positives": int(y.sum()),
        "held_out": int(split.valid.sum()),
        "unlabelled_customers": unknown,
        "recency_auc": recency_auc,
    }
    if recency_auc is not None and recency_auc >= LEAK_AUC:
        warnings.append(
            f"the churn label in '{header_of(log)}' looks derived from the log's own recency: days since "
            f"the last purchase alone separates it on the held-out customers (ROC-AUC {recency_auc:.3f}); "
            "the model learns nothing new from it"
        )
    return result, warnings


def check_counts(y: np.ndarray, header: str) -> None:
    """Refuse labelled customers (features at the as-of date) too few or of a single class."""
    positives = int(y.sum())
    if len(y) < MIN_LABELLED or positives in (0, len(y)):
        raise PipelineError(
            f"cannot learn churn from the column '{header}': {len(y)} labelled customer(s) with events "
            f"before the as-of date, {positives} labelled 1 and {len(y) - positives} labelled 0; at least "
            f"{MIN_LABELLED} and both labels are needed: label more customers, or train without --churn-label"
        )


def _recency_auc(X, y: np.ndarray, valid: np.ndarray) -> float | None:
    """ROC-AUC of days since the last purchase alone on the held-out customers, whichever way
    round it ranks (None when the held-out customers have a single label)."""
    yv = y[valid]
    if len(np.unique(yv)) < 2:
        return None
    auc = float(roc_auc_score(yv, X["recency_days"].to_numpy(dtype=float)[valid]))
    return round(max(auc, 1 - auc), 4)
