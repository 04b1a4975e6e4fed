"""Plain-text and Markdown tables of metrics, as the CLI prints them."""

from __future__ import annotations

import math


def fmt_metric(value) -> str:
    """A metric for a table: 3 decimals, thousands grouped for large values, "-" when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"


def text_table(header: list[str], rows: list[list[str]], markdown: bool = False) -> str:
    """Columns padded to their widest cell, or a Markdown table."""
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in rows)])
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows])


def reliability_text(table: list[dict], markdown: bool = False) -> str:
    """A churn reliability table (``metrics.reliability_table``): per group of predictions, how
    many customers, the mean prediction and the observed rate."""
    rows = [
        [
            f"{r['lo']:.3f}-{r['hi']:.3f}",
            f"{r['n']:,}",
            fmt_metric(r["mean_predicted"]),
            fmt_metric(r["observed_rate"]),
        ]
        for r in table
    ]
    return text_table(["predicted", "customers", "mean predicted", "observed churn"], rows, markdown)


def importance_text(importance: dict[str, dict], top: int = 10) -> str:
    """Per target, its ``top`` features by mean |contribution| on validation with their gain
    share (``-``: the predictor has none; the reason follows), as ``train`` prints them."""
    blocks = []
    for target, record in importance.items():
        rows_note = (
            f"mean |contribution| in {record['unit']} over {record['rows']:,} of "
            f"{record['validation_rows']:,} validation rows"
            if record.get("method")
            else f"no mean |contribution|: {record['contribution_missing']}"
        )
        lines = [f"{target} ({record['predictor']}; {rows_note})"]
        rows = [
            [
                str(i + 1),
                f["feature"],
                fmt_metric(f["mean_abs_contribution"]),
                "-" if f["gain"] is None else f"{f['gain']:.1%}",
            ]
            for i, f in enumerate(record["features"][:top])
        ]
        if rows:
            table = text_table(["#", "feature", "mean |contribution|", "gain share"], rows)
            lines += ["  " + line for line in table.splitlines()]
        if record.get("gain_missing"):
            lines.append(f"  no gain: {record['gain_missing']}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
