"""Command line: ``python -m ml_pipeline train|predict|profile|generate|features`` on local files, no server.

``train`` and ``predict`` are a contract other tools depend on; see docs/cli.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from ml_pipeline.data.days import date_to_day
from ml_pipeline.data.eventlog import load_events
from ml_pipeline.data.options import (
    AMOUNT_KINDS,
    DECIMAL_STYLES,
    DUPLICATE_POLICIES,
    ReadOptions,
    parse_pairs,
)
from ml_pipeline.errors import PipelineError
from ml_pipeline.explain.reasons import METHODS
from ml_pipeline.threads import size_native_threads
from ml_pipeline.training.tables import fmt_metric, importance_text, reliability_text, text_table

EXIT_BAD_INPUT = 2


def _add_input_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--events",
        required=True,
        metavar="FILE",
        help="event log: CSV/TSV (optionally .gz), .xlsx or Parquet",
    )
    p.add_argument(
        "--as-of",
        metavar="YYYY-MM-DD",
        help="prediction date; events must be dated before it (default: the day after the last "
        "plausible event; dates far after the rest are left out with a warning)",
    )
    p.add_argument(
        "--column",
        action="append",
        metavar="FIELD=HEADER",
        help="map a field to a header, e.g. --column customer_id=Kunde (repeatable); an empty "
        "header reads the file without that optional field, e.g. --column churn_label=",
    )
    p.add_argument(
        "--event-type",
        action="append",
        metavar="VALUE=ROLE",
        help="what a value of the event-type column means: purchase, refund, other (kept as a "
        "non-spend event) or ignore (rows left out), e.g. --event-type charge=purchase (repeatable; "
        "default: common shop, payment and status words are understood)",
    )
    p.add_argument("--sheet", help="Excel sheet to read (default: the first)")
    p.add_argument("--date-format", metavar="FMT", help="strptime format of event_date, e.g. %%d/%%m/%%Y")
    p.add_argument(
        "--decimal",
        choices=DECIMAL_STYLES,
        help="decimal separator of amounts: dot (1,234.56) or comma (1.234,56; a dot then groups "
        "thousands, as in $1.250.000) (default: decided from the file)",
    )
    p.add_argument(
        "--amount-is",
        choices=AMOUNT_KINDS,
        help="the amount column is the row's total, or a unit price to multiply by the quantity "
        "(default: unit_price when the column is named like a unit price, e.g. Price or UnitPrice, "
        "and the file has a quantity)",
    )
    p.add_argument(
        "--encoding",
        metavar="CODEC",
        help="text encoding, e.g. cp1252 (default: decided from the whole file: a byte-order mark, "
        "else UTF-8, else Windows-1252)",
    )
    p.add_argument(
        "--max-bad-rows",
        type=float,
        default=0.01,
        metavar="SHARE",
        help="largest share of unreadable rows to drop with a warning before refusing the file "
        "(default 0.01)",
    )
    p.add_argument(
        "--duplicates",
        choices=DUPLICATE_POLICIES,
        default="warn",
        help="exact duplicate rows: warn (keep; refuse above 5%%), keep, drop or error (default warn)",
    )
    p.add_argument(
        "--max-inflated-mb",
        type=float,
        metavar="MB",
        help="refuse a .gz or .xlsx file whose contents unpack to more than MB megabytes, before "
        "reading it (default: no limit; the service applies its MAX_INFLATED_MB)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_models_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--models",
        metavar="LIST",
        help="comma-separated model types to try per target, the best on validation is kept "
        "(default: all of lightgbm,xgboost,random_forest,linear)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(
        prog="python -m ml_pipeline",
        description="Churn and spend models from a customer event log, on local files.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train churn and spend models and write a model bundle")
    _add_input_options(t)
    t.add_argument("--out", required=True, metavar="DIR", help="bundle directory to write")
    t.add_argument("--horizon-days", type=int, default=30, metavar="N", help="spend horizon (default 30)")
    t.add_argument(
        "--churn-horizon-days",
        type=int,
        default=30,
        metavar="N",
        help="churn = no purchase in this many days (default 30)",
    )
    t.add_argument("--cutoffs", type=int, default=12, metavar="K", help="rolling cutoffs (default 12)")
    t.add_argument(
        "--churn-label",
        action="store_true",
        help="learn churn from the log's churn_label column (0/1, yes/no or true/false per customer) "
        "instead of 'no purchase in the next --churn-horizon-days': features at the as-of date, one "
        "row per labelled customer, validated on 20%% of them held out at random (stratified); "
        "unlabelled customers are still scored; spend targets are trained as without it",
    )
    t.add_argument(
        "--step-days", type=int, metavar="N", help="days between cutoffs (default: the longer horizon)"
    )
    _add_models_option(t)
    t.add_argument(
        "--top-categories",
        type=int,
        default=5,
        metavar="N",
        help="categories with their own features and spend targets (default 5)",
    )

    p = sub.add_parser("predict", help="score every customer with a trained bundle")
    p.add_argument("--model", required=True, metavar="DIR", help="bundle directory written by train")
    _add_input_options(p)
    p.add_argument("--out", required=True, metavar="FILE.csv", help="predictions CSV to write")
    p.add_argument("--horizon-days", type=int, metavar="N", help="must match the bundle's (a check)")
    p.add_argument("--churn-horizon-days", type=int, metavar="N", help="must match the bundle's (a check)")
    p.add_argument(
        "--reasons",
        choices=(*METHODS, "none"),
        default="exact",
        help="reasons behind each churn risk, from the churn model's contributions: exact tree SHAP "
        "(default), path (Saabas attribution: cheaper, but its first reason is tree SHAP's for only "
        "61-89%% of customers on the shared logs) or none (no reasons column)",
    )

    pr = sub.add_parser("profile", help="print the profile of an event log as JSON")
    _add_input_options(pr)

    g = sub.add_parser("generate", help="write a synthetic event log (for demos and benchmarks)")
    g.add_argument("--customers", type=int, default=10_000, metavar="N")
    g.add_argument("--events", type=int, default=100_000, metavar="N")
    g.add_argument("--days", type=int, default=730, metavar="N", help="length of the log (default 730)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--out", required=True, metavar="FILE", help=".csv, .csv.gz or .parquet")

    e = sub.add_parser(
        "evaluate",
        help="cut the log at a date, train on the past, score the next N days vs naive and BG/NBD+GG",
    )
    _add_input_options(e)
    e.add_argument(
        "--horizon-days", type=int, default=30, metavar="N", help="days after the cut to score (default 30)"
    )
    _add_models_option(e)
    e.add_argument(
        "--cutoffs",
        type=int,
        metavar="K",
        help="rolling backtest instead of --as-of: K cutoffs, the latest leaving one horizon of "
        "events after it; each trains on the past only; prints each cutoff, mean and spread",
    )
    e.add_argument(
        "--step-days",
        type=int,
        metavar="D",
        help="with --cutoffs: days between cutoffs (default: the horizon)",
    )
    e.add_argument("--markdown", action="store_true", help="print Markdown tables (as in docs/accuracy.md)")
    e.add_argument("--json", metavar="FILE", help="also write every metric as JSON")
    e.add_argument("--no-btyd", action="store_true", help="skip BG/NBD + Gamma-Gamma (needs lifetimes)")

    f = sub.add_parser("features", help="list the features with their meaning")
    f.add_argument("--markdown", action="store_true", help="print docs/features.md")
    return parser


def read_options(args) -> ReadOptions:
    """The reading options given on the command line."""
    return ReadOptions(
        column_mapping=parse_pairs(args.column, "--column", "customer_id=Kunde") or None,
        event_types=parse_pairs(args.event_type, "--event-type", "charge=purchase") or None,
        sheet=args.sheet,
        date_format=args.date_format,
        decimal=args.decimal,
        amount_is=args.amount_is,
        encoding=args.encoding,
        max_bad_share=args.max_bad_rows,
        duplicates=args.duplicates,
    )


def _load(args, scoring: bool = False):
    options = read_options(args)
    return load_events(
        args.events, options.for_scoring() if scoring else options, max_inflated_mb=args.max_inflated_mb
    )


def metrics_table(metrics: dict, selection: dict) -> str:
    """Model vs baseline per target, as printed by ``train``; with a BG/NBD + Gamma-Gamma column
    when it competed (a shortened window plan)."""
    btyd = any("btyd" in m for m in metrics.values())
    rows = []
    for target, m in metrics.items():
        names = (
            ("roc_auc", "pr_auc", "log_loss", "brier")
            if target == "churn"
            else ("mae", "rmse", "r2", "gini", "spearman", "total_ratio")
        )
        for i, name in enumerate(names):
            row = [
                target if i == 0 else "",
                selection[target] if i == 0 else "",
                name,
                fmt_metric(m.get("model", {}).get(name)),
                fmt_metric(m["baseline"].get(name)),
            ]
            rows.append(row + ([fmt_metric(m.get("btyd", {}).get(name))] if btyd else []))
    headers = ["target", "selected", "metric", "model", "baseline"] + (["bg/nbd+gg"] if btyd else [])
    return text_table(headers, rows)


def fallback_summary(result) -> str:
    """What ``train`` prints for the short-history fallback: the model, why, its parameters."""
    m = result.targets["spend_total"].metrics["model"]  # every target shares the fallback's fit
    gg = m["gamma_gamma"]
    spend = (
        "Gamma-Gamma " + ", ".join(f"{k}={v:.4g}" for k, v in gg.items())
        if gg
        else "each customer's average spend per purchase day (Gamma-Gamma could not be fit)"
    )
    d = result.dataset
    return "\n".join(
        [
            "model: btyd_fallback (BG/NBD + Gamma-Gamma fitted on the whole history; not validated)",
            f"why: {result.training['why']}",
            "BG/NBD " + ", ".join(f"{k}={v:.4g}" for k, v in m["bgnbd"].items()) + f"; spend: {spend}",
            f"{d['events']:,} events, {d['customers']:,} customers, {m['repeat_customers']:,} of them "
            "bought on more than one day"
            + ("; categories split by each customer's own spend shares" if len(result.targets) > 2 else ""),
        ]
    )


def label_summary(churn, label: dict) -> str:
    """What ``train --churn-label`` prints about the label learned and how it was validated."""
    scored = churn.metrics["baseline" if churn.selected == "baseline" else "model"]
    unknown = label["unlabelled_customers"]
    return (
        f"churn learned from the {label['source']}: {label['customers']:,} labelled customers, "
        f"{label['positives']:,} of them 1; validation: {label['validation']} "
        f"({label['held_out']:,} customers; {churn.selected} ROC-AUC {fmt_metric(scored.get('roc_auc'))}, "
        f"days since the last purchase alone {fmt_metric(label['recency_auc'])})"
        + (
            f"; {unknown:,} customers without a label left out of churn training, still scored"
            if unknown
            else ""
        )
    )


def cmd_train(args) -> int:
    from ml_pipeline.models.registry import parse_models
    from ml_pipeline.serving.bundle import save_bundle
    from ml_pipeline.training.trainer import TrainConfig, train

    started = time.perf_counter()
    log = _load(args)
    for w in log.warnings:
        print(f"warning: {w}", file=sys.stderr)
    config = TrainConfig(
        horizon_days=args.horizon_days,
        churn_horizon_days=args.churn_horizon_days,
        n_cutoffs=args.cutoffs,
        step_days=args.step_days,
        top_categories=args.top_categories,
        models=parse_models(args.models),
        churn_label=args.churn_label,
    )
    as_of = date_to_day(args.as_of) if args.as_of else None
    result = train(log, config, as_of=as_of, progress=not args.quiet)
    path = save_bundle(result, log, args.out)
    label = result.targets["churn"].metrics.get("label")
    if result.training["model"] == "btyd_fallback":
        print(fallback_summary(result))
        if label:
            print(label_summary(result.targets["churn"], label))
        print(f"bundle written to {path} in {time.perf_counter() - started:.1f} s")
        return 0
    metrics = {k: r.metrics for k, r in result.targets.items()}
    print(metrics_table(metrics, {k: r.selected for k, r in result.targets.items()}))
    print("\nvalidation log loss (churn) / RMSE (spend) of each model type:")
    for target, m in metrics.items():
        cands = m.get("candidates", {})
        key = "log_loss" if target == "churn" else "rmse"
        listed = ", ".join(f"{k} {fmt_metric(v.get(key))}" for k, v in cands.items())
        print(f"  {target}: {listed or '-'}; baseline {fmt_metric(m['baseline'].get(key))}")
    churn = metrics["churn"].get("model") or metrics["churn"]["baseline"]
    if label:
        print("\n" + label_summary(result.targets["churn"], label))
    if churn.get("reliability"):
        who = "model" if "model" in metrics["churn"] else "baseline"
        where = "the held-out labelled customers" if label else "the validation window"
        print(f"\nchurn reliability on {where} ({who}; customers grouped by predicted probability):")
        print(reliability_text(churn["reliability"]))
    print("\nfeature importance of each production predictor (top 10 by mean |contribution|):")
    print(importance_text(result.importance))
    for w in result.warnings:
        print(f"note: {w}")
    d = result.dataset
    plan = result.plan.describe()
    print(
        f"\nmodel: rolling windows ({result.training['why']})\n"
        f"{d['events']:,} events, {d['customers']:,} customers; {len(plan['cutoffs'])} cutoffs "
        f"({plan['cutoffs'][-1]} .. {plan['cutoffs'][0]}), validation {', '.join(plan['validation'])}; "
        f"{d['training_rows']:,} training and {d['validation_rows']:,} validation rows"
        + (" (spend targets; churn as above)" if label else "")
        + f", {d['features']} features"
    )
    print(
        f"bundle written to {path} in {time.perf_counter() - started:.1f} s "
        f"(features {result.timings['features_s']:.1f} s)"
    )
    return 0


def cmd_evaluate(args) -> int:
    import dataclasses
    import json

    from ml_pipeline.errors import PipelineError
    from ml_pipeline.models.registry import parse_models
    from ml_pipeline.training.evaluation import backtest, backtest_cutoffs, evaluate, render, render_backtest
    from ml_pipeline.training.trainer import TrainConfig

    if args.cutoffs is not None and args.as_of:
        raise PipelineError("evaluate takes --as-of or --cutoffs, not both")
    if args.cutoffs is None and args.step_days is not None:
        raise PipelineError("--step-days goes with --cutoffs")
    if args.cutoffs is None and not args.as_of:
        raise PipelineError("evaluate needs --as-of (the date to cut the log at) or --cutoffs K")
    if args.cutoffs is not None and args.cutoffs < 1:
        raise PipelineError("--cutoffs must be at least 1")
    if args.step_days is not None and args.step_days < 1:
        raise PipelineError("--step-days must be at least 1")
    log = _load(args)
    for w in log.warnings:
        print(f"warning: {w}", file=sys.stderr)
    config = TrainConfig(
        horizon_days=args.horizon_days,
        churn_horizon_days=args.horizon_days,
        models=parse_models(args.models),
    )
    if args.cutoffs is not None:
        cuts = backtest_cutoffs(int(log.day.max()), args.cutoffs, args.horizon_days, args.step_days)
        evs = backtest(
            log,
            cuts,
            horizon_days=args.horizon_days,
            config=config,
            with_btyd=not args.no_btyd,
            progress=not args.quiet,
        )
        print(render_backtest(evs, markdown=args.markdown), end="")
        if args.json:
            Path(args.json).write_text(json.dumps([dataclasses.asdict(ev) for ev in evs], indent=2))
        return 0
    ev = evaluate(
        log,
        date_to_day(args.as_of),
        horizon_days=args.horizon_days,
        config=config,
        with_btyd=not args.no_btyd,
        progress=not args.quiet,
    )
    print(render(ev, markdown=args.markdown))
    if args.json:
        Path(args.json).write_text(json.dumps(dataclasses.asdict(ev), indent=2))
    return 0


def cmd_predict(args) -> int:
    from ml_pipeline.data.readers import write_csv_atomic
    from ml_pipeline.serving.bundle import load_bundle
    from ml_pipeline.serving.scoring import SEGMENTS, predict, rounded

    started = time.perf_counter()
    bundle = load_bundle(args.model)
    for flag, key in ((args.horizon_days, "horizon_days"), (args.churn_horizon_days, "churn_horizon_days")):
        if flag is not None and flag != bundle.metadata[key]:
            raise PipelineError(
                f"--{key.replace('_', '-')} {flag} differs from the model's "
                f"{bundle.metadata[key]}; train a model for that horizon"
            )
    log = _load(args, scoring=True)
    for w in log.warnings:
        print(f"warning: {w}", file=sys.stderr)
    frame = predict(
        bundle,
        log,
        as_of=date_to_day(args.as_of) if args.as_of else None,
        reasons=None if args.reasons == "none" else args.reasons,
    )
    frame = rounded(frame)
    write_csv_atomic(frame, args.out)
    counts = frame["risk_segment"].value_counts()
    mix = ", ".join(f"{s} {int(counts.get(s, 0)):,}" for s in SEGMENTS)
    print(
        f"{len(frame):,} customers scored from {log.n_events:,} events; mean churn probability "
        f"{frame['churn_probability'].mean():.3f}; risk: {mix}; predicted {bundle.metadata['horizon_days']}-day "
        f"spend {frame['spend_total'].sum():,.2f}"
    )
    print(f"predictions written to {args.out} in {time.perf_counter() - started:.1f} s")
    return 0


def cmd_profile(args) -> int:
    from ml_pipeline.data.profiling import profile

    print(json.dumps(profile(_load(args)), indent=2))
    return 0


def cmd_generate(args) -> int:
    from ml_pipeline.data.synthetic import generate_events, write_events

    frame = generate_events(args.customers, args.events, days=args.days, seed=args.seed)
    path = write_events(frame, args.out)
    print(f"{len(frame):,} events of {frame['customer_id'].nunique():,} customers written to {path}")
    return 0


def cmd_features(args) -> int:
    from ml_pipeline.features import FEATURE_DOCS, features_markdown

    if args.markdown:
        sys.stdout.write(features_markdown())
    else:
        for name, doc in FEATURE_DOCS.items():
            print(f"{name:28s} {doc}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (2 for bad input, with a one-line error on stderr)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        size_native_threads(1)  # the only process: every core it may use (NATIVE_THREADS overrides)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    commands = {
        "train": cmd_train,
        "predict": cmd_predict,
        "evaluate": cmd_evaluate,
        "profile": cmd_profile,
        "generate": cmd_generate,
        "features": cmd_features,
    }
    try:
        return commands[args.command](args)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
