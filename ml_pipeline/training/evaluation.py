"""Out-of-time evaluation: cut the log at a date, train on the past only, score the next N days.

Three predictors are compared on the same customers (everyone with an event before the cut):
our trained models, the naive baselines (recency-decile churn rate; last window's spend) and
BG/NBD + Gamma-Gamma (:mod:`ml_pipeline.training.btyd`). Nothing after the cut is seen by any of them:
the models are trained on ``log.head(as_of)``, and the future is used only for the labels.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ml_pipeline.data.days import check_as_of, day_to_date
from ml_pipeline.data.eventlog import EventLog
from ml_pipeline.models.reconcile import reconcile_named
from ml_pipeline.training.btyd import btyd_predict, summarize
from ml_pipeline.training.metrics import churn_metrics, reliability_table, spend_metrics
from ml_pipeline.training.tables import fmt_metric, reliability_text, text_table
from ml_pipeline.training.targets import build_targets
from ml_pipeline.training.trainer import TrainConfig, train

CHURN_ROWS = ("roc_auc", "pr_auc", "brier", "log_loss", "observed_rate", "mean_predicted")
SPEND_ROWS = ("mae", "rmse", "gini", "spearman", "total_ratio")


@dataclass
class Evaluation:
    """Metrics per predictor, per-category metrics, the reliability table and run facts."""

    as_of: str
    horizon_days: int
    churn: dict[str, dict]  # predictor -> churn metrics
    spend: dict[str, dict]  # predictor -> spend_total metrics
    categories: dict[str, dict[str, dict]]  # category target -> predictor -> metrics
    reliability: list[dict]
    selected: dict[str, str]
    facts: dict = field(default_factory=dict)
    # per customer id, each predictor's output (only with ``evaluate(..., keep_predictions=True)``)
    predictions: pd.DataFrame | None = field(default=None, repr=False)


def features_and_labels(
    log: EventLog, past: EventLog, as_of: int, builder, horizon_days: int, churn_horizon_days: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features at the cut from ``past`` (``log.head(as_of)``, whose cached groupings training
    already built) and every target's labels from the days after it, for everyone in ``past``."""
    X = builder.transform(past, as_of)
    Y = build_targets(
        log,
        as_of,
        X.index.to_numpy(),
        horizon_days=horizon_days,
        churn_horizon_days=churn_horizon_days,
        top_categories=builder.categories_,
        category_targets=builder.category_targets_,
    )
    return X, Y


def previous_total(past: EventLog, as_of: int, horizon_days: int) -> float:
    """The shop's total spend in the ``horizon_days`` before ``as_of`` (each customer's net floored
    at 0, as the labels are): what the next window's total is compared with when a forecast's
    level misses it."""
    start = as_of - horizon_days
    if start < int(past.day[0]):
        return float("nan")
    y = build_targets(
        past,
        start,
        np.arange(past.n_customers),
        horizon_days=horizon_days,
        churn_horizon_days=horizon_days,
        top_categories=[],
        category_targets=[],
    )
    return float(y["spend_total"].sum())


def evaluate(
    log: EventLog,
    as_of: int,
    *,
    horizon_days: int = 30,
    config: TrainConfig | None = None,
    with_btyd: bool = True,
    progress: bool = False,
    keep_predictions: bool = False,
) -> Evaluation:
    """Train on events before ``as_of`` and score the ``horizon_days`` after it."""
    started = time.perf_counter()
    config = config or TrainConfig(horizon_days=horizon_days, churn_horizon_days=horizon_days)
    past = log.head(as_of)
    check_as_of(past.day, as_of)
    result = train(past, config, as_of=as_of, progress=progress)
    X, Y = features_and_labels(
        log, past, as_of, result.builder, config.horizon_days, config.churn_horizon_days
    )
    customers = X.index.to_numpy()
    # Scored as predict delivers them: churn in [0, 1], spend not below 0, the categories
    # reconciled with the total.
    raw = {t: r.estimator.predict(X) for t, r in result.targets.items()}
    ours = reconcile_named({t: np.clip(p, 0.0, 1.0 if t == "churn" else None) for t, p in raw.items()})
    # no naive baselines for the short-history fallback: they are fit on labelled windows
    naive = {t: r.baseline.predict(X) for t, r in result.targets.items() if r.baseline is not None}
    y_churn, y_spend = Y["churn"].to_numpy(), Y["spend_total"].to_numpy()
    churn = {"ours": churn_metrics(y_churn, ours["churn"])}
    spend = {"ours": spend_metrics(y_spend, ours["spend_total"])}
    if naive:
        churn["naive"] = churn_metrics(y_churn, naive["churn"])
        spend["naive"] = spend_metrics(y_spend, naive["spend_total"])
    kept = pd.DataFrame(ours, index=pd.Index(past.customer_ids[customers], name="customer_id"))
    if with_btyd:
        p_none, btyd_spend = btyd_predict(summarize(past, as_of, customers), config.horizon_days)
        kept["bgnbd_churn"], kept["bgnbd_gg_spend"] = p_none, btyd_spend
        churn["bgnbd"] = churn_metrics(y_churn, p_none)
        spend["bgnbd_gg"] = spend_metrics(y_spend, btyd_spend)
    categories = {
        t: {
            "ours": spend_metrics(Y[t].to_numpy(), ours[t]),
            "naive": spend_metrics(Y[t].to_numpy(), naive[t]) if naive else {},
        }
        for t in result.targets
        if t.startswith("spend_") and t != "spend_total"
    }
    return Evaluation(
        as_of=day_to_date(as_of),
        horizon_days=config.horizon_days,
        churn=churn,
        spend=spend,
        categories=categories,
        reliability=reliability_table(y_churn, ours["churn"]),
        selected={t: r.selected for t, r in result.targets.items()},
        facts={
            "customers": int(len(customers)),
            "events_before": int(past.n_events),
            "training_rows": result.dataset["training_rows"],
            "previous_total": previous_total(past, as_of, config.horizon_days),
            "seconds": round(time.perf_counter() - started, 1),
        },
        predictions=kept if keep_predictions else None,
    )


def render(ev: Evaluation, markdown: bool = False) -> str:
    """The comparison tables as text (or Markdown)."""
    names = {"ours": "ours", "naive": "naive", "bgnbd": "BG/NBD", "bgnbd_gg": "BG/NBD+GG"}
    out = [
        f"as of {ev.as_of}, next {ev.horizon_days} days: {ev.facts['customers']:,} customers with "
        f"an event before the cut; trained on {ev.facts['events_before']:,} earlier events "
        f"({ev.facts['training_rows']:,} training rows) in {ev.facts['seconds']} s; our model for churn: "
        f"{ev.selected['churn']}, for spend: {ev.selected['spend_total']}",
        "",
    ]
    cols = list(ev.churn)
    rows = [[f"churn {m}", *(fmt_metric(ev.churn[c].get(m)) for c in cols)] for m in CHURN_ROWS]
    out += [text_table(["metric", *(names[c] for c in cols)], rows, markdown), ""]
    cols = list(ev.spend)
    rows = [[f"spend {m}", *(fmt_metric(ev.spend[c].get(m)) for c in cols)] for m in SPEND_ROWS]
    out += [text_table(["metric", *(names[c] for c in cols)], rows, markdown), ""]
    if ev.categories:
        rows = [
            [
                t,
                ev.selected[t],
                fmt_metric(m["ours"]["mae"]),
                fmt_metric(m["naive"].get("mae")),
                fmt_metric(m["ours"]["gini"]),
                fmt_metric(m["naive"].get("gini")),
                fmt_metric(m["ours"]["gini"] - m["naive"]["gini"] if m["naive"] else None),
            ]
            for t, m in ev.categories.items()
        ]
        header = [
            "category target",
            "selected",
            "MAE ours",
            "MAE naive",
            "Gini ours",
            "Gini naive",
            "Gini gain",
        ]
        out += [text_table(header, rows, markdown), ""]
    if "bgnbd" in ev.churn:
        out += [
            "against the targets (issue 14):",
            text_table(["check", "value", "target", "met"], targets(ev), markdown),
            "",
        ]
    out += [
        "churn reliability (our model, customers grouped by predicted probability):",
        reliability_text(ev.reliability, markdown),
    ]
    return "\n".join(out)


# --- rolling backtest -------------------------------------------------------------------------


def backtest_cutoffs(
    last_day: int, cutoffs: int, horizon_days: int = 30, step_days: int | None = None
) -> list[int]:
    """``cutoffs`` cut days, oldest first. The latest leaves one full horizon of actuals after it
    (its window ends on ``last_day``, the last event's day); earlier ones step back ``step_days``
    (default: the horizon) each."""
    if cutoffs < 1:
        raise ValueError("--cutoffs must be at least 1")
    step = step_days or horizon_days
    if step < 1:
        raise ValueError("--step-days must be at least 1")
    latest = int(last_day) + 1 - horizon_days
    return [latest - i * step for i in range(cutoffs - 1, -1, -1)]


def backtest(
    log: EventLog,
    cutoffs: list[int],
    *,
    horizon_days: int = 30,
    config: TrainConfig | None = None,
    with_btyd: bool = True,
    progress: bool = False,
    keep_predictions: bool = False,
) -> list[Evaluation]:
    """One :func:`evaluate` per cutoff: each trains on ``log.head(cutoff)`` only (features, model
    selection and the BG/NBD fit included) and scores the ``horizon_days`` after its cutoff."""
    return [
        evaluate(
            log,
            c,
            horizon_days=horizon_days,
            config=config,
            with_btyd=with_btyd,
            progress=progress,
            keep_predictions=keep_predictions,
        )
        for c in cutoffs
    ]


NAMES = {"ours": "ours", "naive": "naive", "bgnbd": "BG/NBD", "bgnbd_gg": "BG/NBD+GG"}
BACKTEST_ROWS = (
    ("churn", "roc_auc", "churn ROC-AUC"),
    ("churn", "brier", "churn Brier"),
    ("churn", "observed_rate", "churn observed rate"),
    ("churn", "mean_predicted", "churn mean predicted"),
    ("spend", "mae", "spend MAE"),
    ("spend", "gini", "spend Gini"),
    ("spend", "total_ratio", "spend predicted/actual total"),
)


def _spread(label: str, predictor: str, values: list[float | None]) -> dict:
    """One summary row: the values per cutoff and the mean, min, max and std (ddof 0) of those
    that are numbers (None where none is)."""
    v = np.array([float(x) for x in values if x is not None and x == x])
    stats = {
        k: (float(f(v)) if v.size else None)
        for k, f in (("mean", np.mean), ("min", np.min), ("max", np.max), ("std", np.std))
    }
    return {"metric": label, "predictor": predictor, "values": values, **stats}


def summary_rows(evs: list[Evaluation]) -> list[dict]:
    """Per metric and predictor: each cutoff's value, their mean, min, max and std (ddof 0)."""
    out = [
        _spread(label, pred, [getattr(ev, part).get(pred, {}).get(metric) for ev in evs])
        for part, metric, label in BACKTEST_ROWS
        for pred in getattr(evs[0], part)
    ]
    out += [
        _spread(f"{t} Gini", pred, [ev.categories.get(t, {}).get(pred, {}).get("gini") for ev in evs])
        for t in evs[0].categories
        for pred in ("ours", "naive")
    ]
    return out


def targets(ev: Evaluation) -> list[list[str]]:
    """Issue 14's accuracy targets at one cutoff, one row per check: [check, value, target,
    "met" or "**not met**"]. Needs the naive and BG/NBD predictors in ``ev``."""
    c, s = ev.churn, ev.spend
    checks = [
        (
            "churn ROC-AUC minus BG/NBD's",
            c["ours"]["roc_auc"] - c["bgnbd"]["roc_auc"],
            "> 0",
            lambda v: v > 0,
        ),
        ("churn Brier minus BG/NBD's", c["ours"]["brier"] - c["bgnbd"]["brier"], "< 0", lambda v: v < 0),
        (
            "spend Gini minus BG/NBD+GG's",
            s["ours"]["gini"] - s["bgnbd_gg"]["gini"],
            ">= 0.030",
            lambda v: v >= 0.03 - 1e-12,
        ),
        ("spend MAE minus BG/NBD+GG's", s["ours"]["mae"] - s["bgnbd_gg"]["mae"], "< 0", lambda v: v < 0),
        (
            "predicted / actual total - 1",
            s["ours"]["total_ratio"] - 1,
            "within ±0.10",
            lambda v: abs(v) <= 0.10,
        ),
    ]
    for t, m in ev.categories.items():
        if m["naive"]:
            gain = m["ours"]["gini"] - m["naive"]["gini"]
            checks.append((f"{t} Gini minus naive's", gain, ">= 0.050", lambda v: v >= 0.05 - 1e-12))
    return [[name, f"{v:+.4f}", target, "met" if ok(v) else "**not met**"] for name, v, target, ok in checks]


def why_not_met(ev: Evaluation, check: str) -> str:
    """What the numbers of ``ev`` say about a missed check ("" when they say nothing more than
    the check): for the level checks, how the actuals moved against what the past showed."""
    c, s, h = ev.churn, ev.spend, ev.horizon_days
    if check.startswith("predicted / actual total"):
        prev, actual = ev.facts.get("previous_total"), s["ours"]["actual_total"]
        moved = f"{actual / prev - 1:+.0%}" if prev and prev == prev else "n/a"
        return (
            f"the actual total moved {moved} against the {h} days before the cutoff; "
            f"BG/NBD+GG's ratio {s['bgnbd_gg']['total_ratio']:.3f}, naive's {s['naive']['total_ratio']:.3f}"
        )
    if check.startswith("churn Brier"):
        return (
            f"level: mean predicted churn {c['ours']['mean_predicted']:.3f} against the observed "
            f"{c['ours']['observed_rate']:.3f} (BG/NBD {c['bgnbd']['mean_predicted']:.3f})"
        )
    return ""


def render_backtest(evs: list[Evaluation], markdown: bool = False, title: str = "") -> str:
    """Each cutoff's metrics, their mean and spread, the targets per cutoff and the reliability
    tables, as text (or Markdown)."""
    h = evs[0].horizon_days
    out = [
        f"rolling backtest{(' of ' + title) if title else ''}: {len(evs)} cutoffs, next {h} days after each; "
        "each trained on the events before its cutoff only",
        "",
    ]
    rows = [
        [
            ev.as_of,
            f"{ev.facts['customers']:,}",
            f"{ev.facts['events_before']:,}",
            ev.selected["churn"],
            ev.selected["spend_total"],
            f"{ev.facts['seconds']}",
        ]
        for ev in evs
    ]
    out += [
        text_table(
            ["cutoff", "customers", "events before", "churn model", "spend model", "seconds"], rows, markdown
        ),
        "",
    ]
    header = ["metric", "predictor", *(ev.as_of for ev in evs), "mean", "min", "max", "std"]
    rows = [
        [
            r["metric"],
            NAMES[r["predictor"]],
            *(fmt_metric(v) for v in r["values"]),
            fmt_metric(r["mean"]),
            fmt_metric(r["min"]),
            fmt_metric(r["max"]),
            fmt_metric(r["std"]),
        ]
        for r in summary_rows(evs)
    ]
    out += [text_table(header, rows, markdown), ""]
    if all("bgnbd" in ev.churn and "naive" in ev.churn for ev in evs):
        per = [targets(ev) for ev in evs]
        rows = [
            [r0[0], r0[2], *(f"{p[i][1]} {p[i][3]}" for p in per)]
            for i, r0 in enumerate(per[0])
            if all(len(p) > i and p[i][0] == r0[0] for p in per)
        ]
        met = sum(p[i][3] == "met" for p in per for i in range(len(p)))
        total = sum(len(p) for p in per)
        out += [
            f"against the targets (issue 14), per cutoff: {met} of {total} met",
            "",
            text_table(["check", "target", *(ev.as_of for ev in evs)], rows, markdown),
            "",
        ]
        notes = [
            f"- {ev.as_of}, {row[0]}: {why}"
            for ev, p in zip(evs, per)
            for row in p
            if row[3] != "met" and (why := why_not_met(ev, row[0]))
        ]
        if notes:
            out += ["what the numbers say about the checks not met:", "", *notes, ""]
    for ev in evs:
        out += [
            f"churn reliability as of {ev.as_of} (our model, customers grouped by predicted probability):",
            "",
            reliability_text(ev.reliability, markdown),
            "",
        ]
    return "\n".join(out).rstrip() + "\n"
