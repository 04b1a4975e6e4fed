"""A bulk job's results as rows and numbers: stored prediction records, per-partition summaries
and their merge, and the concatenation of the partitions' CSV files. No database, no storage."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import pandas as pd

from hcl_server.db import BulkPartition
from hcl_server.services.scoring import spend_columns
from ml_pipeline.explain.reasons import split as split_reasons
from ml_pipeline.serving.bundle import Bundle
from ml_pipeline.serving.scoring import SEGMENTS

MAX_WARNINGS = 50


def prediction_records(
    frame: pd.DataFrame, bundle: Bundle, *, org_id: str, job_id: str, partition: int, now: datetime
) -> list[dict]:
    """One dict per row of a predictions frame, with the columns of the predictions table.

    ``spend`` holds the per-category spends by category ("GROCERY": 12.5), rounded to 4 places;
    ``reasons`` the frame's "; "-joined reasons as a list.
    """
    spend = {col: key for col, key in spend_columns(bundle).items() if col != "spend_total"}
    # Column-wise: a dict per row is built by zip, not by pandas row access (docs/benchmarks.md).
    spend_dicts = frame[list(spend)].rename(columns=spend).round(4).to_dict("records")
    return [
        {
            "organization_id": org_id,
            "job_id": job_id,
            "partition": partition,
            "customer_id": cid,
            "churn_probability": p,
            "risk_segment": seg,
            "spend_total": total,
            "spend": sp,
            "reasons": split_reasons(why),
            "created_at": now,
        }
        for cid, p, seg, total, sp, why in zip(
            frame["customer_id"].astype(str).tolist(),
            frame["churn_probability"].astype(float).tolist(),
            frame["risk_segment"].tolist(),
            frame["spend_total"].astype(float).tolist(),
            spend_dicts,
            frame["reasons"].tolist(),
        )
    ]


def partition_summary(frame: pd.DataFrame, warnings: list[str]) -> dict:
    """What the merge needs of a scored partition: customers, sums, segment counts, warnings."""
    counts = frame["risk_segment"].value_counts()
    return {
        "n": len(frame),
        "churn_sum": float(frame["churn_probability"].sum()),
        "spend_total": float(frame["spend_total"].sum()),
        "segments": {s: int(counts.get(s, 0)) for s in SEGMENTS},
        "warnings": list(warnings),
    }


def job_summary(parts: list[BulkPartition]) -> dict:
    """The job's summary from its partitions': mean churn probability, segment counts, spend total."""
    total = sum(p.summary["n"] for p in parts)
    return {
        "avg_churn_probability": round(sum(p.summary["churn_sum"] for p in parts) / total, 6)
        if total
        else None,
        "risk_distribution": {s: sum(p.summary["segments"][s] for p in parts) for s in SEGMENTS},
        "predicted_spend_total": round(sum(p.summary["spend_total"] for p in parts), 2),
    }


def job_warnings(split_warnings: list[str], parts: list[BulkPartition]) -> list[str]:
    """The split's warnings, then each partition's own (bad rows, duplicates) in partition order,
    each once; at most MAX_WARNINGS."""
    warnings = list(split_warnings)
    for p in parts:
        warnings += [w for w in p.summary.get("warnings", []) if w not in warnings]
    return warnings[:MAX_WARNINGS]


def concat_csv(pieces: Iterable[Path], out: Path) -> None:
    """Concatenate CSV files with the same header into ``out``, keeping the first header only.

    ``pieces`` is read one file at a time, so it may fetch each file as it is asked for.
    """
    with out.open("w", encoding="utf-8") as merged:
        for k, piece in enumerate(pieces):
            with piece.open(encoding="utf-8") as src:
                header = src.readline()
                if k == 0:
                    merged.write(header)
                for line in src:
                    merged.write(line)
