"""A bulk job's results as rows and numbers: stored prediction records, per-partition summaries
and their merge, and the concatenation of the partitions' CSV files. No database, no storage."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from hcl_server.db import BulkPartition
from hcl_server.services.scoring import spend_columns
from ml_pipeline.data.writing import float_texts
from ml_pipeline.explain.reasons import SEPARATOR
from ml_pipeline.explain.reasons import split as split_reasons
from ml_pipeline.serving.bundle import Bundle
from ml_pipeline.serving.scoring import SEGMENTS

MAX_WARNINGS = 50


def prediction_rows(
    frame: pd.DataFrame, bundle: Bundle, *, org_id: str, job_id: str, partition: int, now: datetime
) -> list[tuple]:
    """One tuple per row of a predictions frame, in repositories.predictions.COLUMNS order.

    ``spend`` is the JSON text of the per-category spends by category ({"GROCERY": 12.5}),
    rounded to 4 places, ``reasons`` the JSON text of the frame's "; "-joined reasons as a list:
    the text ``json.dumps`` writes of the dict and the list (spend_json, reasons_json), as the
    ORM's JSON columns stored them.
    """
    return rows_of(frame, category_spends(bundle), org_id, job_id, partition, now)


def category_spends(bundle: Bundle) -> dict[str, str]:
    """Frame column -> key in a stored prediction's ``spend`` ("spend_GROCERY" -> "GROCERY")."""
    return {col: key for col, key in spend_columns(bundle).items() if col != "spend_total"}


def rows_of(
    frame: pd.DataFrame, spend: dict[str, str], org_id: str, job_id: str, partition: int, now: datetime
) -> list[tuple]:
    """``prediction_rows`` with the category columns given (``category_spends``)."""
    return list(
        zip(
            [org_id] * len(frame),
            [job_id] * len(frame),
            [partition] * len(frame),
            frame["customer_id"].astype(str).tolist(),
            frame["churn_probability"].astype(float).tolist(),
            frame["risk_segment"].tolist(),
            frame["spend_total"].astype(float).tolist(),
            spend_json(frame[list(spend)].rename(columns=spend).round(4)),
            reasons_json(frame["reasons"]),
            [now] * len(frame),
        )
    )


def spend_json(spends: pd.DataFrame) -> list[str]:
    """``json.dumps`` of each row as a dict (column name -> float), built a column at a time:
    the names are encoded once and the numbers written by ``ml_pipeline.data.writing.float_texts`` (``repr``, as
    ``json.dumps`` writes them). A row with NaN or an infinity is left to ``json.dumps`` itself."""
    if spends.shape[1] == 0:
        return ["{}"] * len(spends)
    values = spends.to_numpy(dtype=np.float64)
    parts: list = []
    for k, name in enumerate(spends.columns):
        parts += [("{" if k == 0 else ", ") + json.dumps(str(name)) + ": ", float_texts(values[:, k])]
    text = pc.binary_join_element_wise(*parts, "}", "").to_numpy(zero_copy_only=False).astype(object)
    odd = np.flatnonzero(~np.isfinite(values).all(axis=1))
    names = [str(c) for c in spends.columns]
    for i in odd:
        text[i] = json.dumps(dict(zip(names, values[i].tolist())))
    return text.tolist()


# A reason text that json.dumps writes as it is: no quote, backslash, control or non-ASCII
# character (``ensure_ascii`` escapes those).
_JSON_PLAIN = r'^[^"\\\x00-\x1f\x{80}-\x{10FFFF}]*$'


def reasons_json(reasons: pd.Series) -> list[str]:
    """``json.dumps(split_reasons(text))`` of each "; "-joined reasons text: '["a", "b"]', or
    '[]' for none. Texts without a character JSON escapes are joined by pyarrow; the rest by
    ``json.dumps``."""
    text = pa.array(reasons.astype(str), type=pa.string(), from_pandas=True)
    listed = pc.binary_join_element_wise('["', pc.replace_substring(text, SEPARATOR, '", "'), '"]', "")
    out = pc.if_else(pc.equal(text, ""), "[]", listed).to_numpy(zero_copy_only=False).astype(object)
    plain = pc.fill_null(pc.match_substring_regex(text, _JSON_PLAIN), False)
    for i in np.flatnonzero(~plain.to_numpy(zero_copy_only=False)):
        out[i] = json.dumps(split_reasons(text[i].as_py()))
    return out.tolist()


def partition_summary(frame: pd.DataFrame, warnings: list[str], spend: dict[str, str]) -> dict:
    """What the merge needs of a scored partition: customers, sums (churn probability, predicted
    spend in total and per category: ``spend`` maps the frame's category columns to their keys,
    ``category_spends``), segment counts, warnings."""
    counts = frame["risk_segment"].value_counts()
    return {
        "n": len(frame),
        "churn_sum": float(frame["churn_probability"].sum()),
        "spend_total": float(frame["spend_total"].sum()),
        "spend_by_category": {key: float(frame[col].sum()) for col, key in spend.items()},
        "segments": {s: int(counts.get(s, 0)) for s in SEGMENTS},
        "warnings": list(warnings),
    }


def job_summary(parts: list[BulkPartition]) -> dict:
    """The job's summary from its partitions': mean churn probability, segment counts, predicted
    spend in total and by category (category -> sum, in the log's currency; None when a partition
    was scored before categories were summed: a part of the sum would read as the whole)."""
    total = sum(p.summary["n"] for p in parts)
    by_category: dict[str, float] | None = {}
    for p in parts:
        if "spend_by_category" not in p.summary:
            by_category = None
            break
        for key, value in p.summary["spend_by_category"].items():
            by_category[key] = by_category.get(key, 0.0) + value
    return {
        "avg_churn_probability": round(sum(p.summary["churn_sum"] for p in parts) / total, 6)
        if total
        else None,
        "risk_distribution": {s: sum(p.summary["segments"][s] for p in parts) for s in SEGMENTS},
        "predicted_spend_total": round(sum(p.summary["spend_total"] for p in parts), 2),
        "predicted_spend_by_category": None
        if by_category is None
        else {k: round(v, 2) for k, v in by_category.items()},
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

    ``pieces`` is read one file at a time, so it may fetch each file as it is asked for. Bytes
    are copied as they are (a "\\r" inside a quoted field stays a "\\r").
    """
    with out.open("wb") as merged:
        for k, piece in enumerate(pieces):
            with piece.open("rb") as src:
                header = src.readline()
                if k == 0:
                    merged.write(header)
                shutil.copyfileobj(src, merged, 1 << 20)
