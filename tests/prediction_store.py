"""The bulk store of a partition's predictions against the ORM insert it replaced (issue 16), on
SQLite (tests/service/test_bulk_storage.py) and PostgreSQL (tests/integration)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from hcl_server.repositories.predictions import COLUMNS

SPEND = {"spend_GROCERY": "GROCERY", 'spend_Café "Noir"': 'Café "Noir"', "spend_other": "other"}


def hostile_frame(n: int = 3000, seed: int = 3) -> pd.DataFrame:
    """A rounded predictions frame (scoring.rounded's form) with the values that test a writer:
    formula-like and quoted ids, non-ASCII and escaped characters in reasons, no reasons, whole
    and large numbers, spends below a cent after the stored 4-place rounding."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"C{i:07d}" for i in range(n)], dtype=object)
    odd_ids = [
        '=HYPERLINK("x")',
        "a,b",
        'q"x',
        "line\nbreak",
        "-5",
        "+A1",
        "'=x",
        "é ü",
        "tab\tx",
        "back\\slash",
    ]
    ids[: len(odd_ids)] = odd_ids
    reasons = np.array(
        [
            "no purchase for 64 days, 3.0x the usual gap of 21 days; spend fell 40%",
            "",
            'fewer visits; "quoted" category; back\\slash',
            "Café purchases stopped; ünïcödé; emoji 🎉",
            "control\x01char",
            "one reason",
        ],
        dtype=object,
    )
    return pd.DataFrame(
        {
            "customer_id": ids,
            "churn_probability": np.round(rng.uniform(0, 1, n), 4),
            "risk_segment": rng.choice(["Low", "Medium", "High", "Critical"], n).astype(object),
            "spend_total": np.round(rng.lognormal(4, 2, n), 2),
            "spend_GROCERY": np.round(rng.lognormal(1, 2, n), 2) * (rng.uniform(size=n) > 0.3),
            'spend_Café "Noir"': rng.choice([0.0, 3.0, 0.004, 123456789012.35, 1e16, 7.25], n),
            "spend_other": np.round(rng.uniform(0, 50, n), 2),
            "reasons": rng.choice(reasons, n),
        }
    )


def old_records(frame: pd.DataFrame, org_id: str, job_id: str, partition: int, now: datetime) -> list[dict]:
    """The stored rows as the code before issue 16 built them (prediction_records), for the ORM."""
    spend_dicts = frame[list(SPEND)].rename(columns=SPEND).round(4).to_dict("records")
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
            "reasons": why.split("; ") if why else [],
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


def stored_both_ways(db, org_id: str, frame: pd.DataFrame) -> tuple[list, list, list, list]:
    """Store ``frame`` as one partition of two jobs, the old way (ORM insert of dicts) and the new
    (``prediction_rows`` + ``replace_partition``); read both back, in row-id order, as raw column
    text and as ORM objects: (old raw, new raw, old objects, new objects)."""
    from hcl_server.db import Job, Prediction
    from hcl_server.db.models import new_id
    from hcl_server.repositories import predictions
    from hcl_server.services.bulk_results import rows_of

    now = datetime(2026, 11, 30, 12, 34, 56, 789012, tzinfo=UTC)
    old_job, new_job = new_id(), new_id()
    db.session.add_all([Job(id=j, organization_id=org_id, kind="bulk") for j in (old_job, new_job)])
    db.session.flush()
    records = old_records(frame, org_id, old_job, 2, now)
    if records:  # as the old code: an insert without rows would add one of defaults
        db.session.execute(sa.insert(Prediction), records)
    predictions.replace_partition(new_job, 2, rows_of(frame, SPEND, org_id, new_job, 2, now))
    # A redelivered partition replaces its rows rather than adding to them.
    predictions.replace_partition(new_job, 2, rows_of(frame, SPEND, org_id, new_job, 2, now))
    db.session.commit()
    cast = "::text" if db.engine.dialect.name == "postgresql" else ""
    raw = sa.text(
        "SELECT organization_id, partition, customer_id, churn_probability, risk_segment, spend_total, "
        f"spend{cast}, reasons{cast}, created_at{cast} FROM predictions WHERE job_id = :j ORDER BY id"
    )
    objects = [
        db.session.scalars(sa.select(Prediction).where(Prediction.job_id == j).order_by(Prediction.id)).all()
        for j in (old_job, new_job)
    ]
    return (
        [tuple(r) for r in db.session.execute(raw, {"j": old_job})],
        [tuple(r) for r in db.session.execute(raw, {"j": new_job})],
        *objects,
    )


FIELDS = tuple(c for c in COLUMNS if c != "job_id")  # the stored columns compared, per job


def assert_same_rows(db, org_id: str, frame: pd.DataFrame) -> None:
    """Both ways store the same rows: the same text in every column, the same values through the
    ORM, field by field, in the same order."""
    old_raw, new_raw, old_obj, new_obj = stored_both_ways(db, org_id, frame)
    assert len(old_raw) == len(new_raw) == len(frame)
    for a, b in zip(old_raw, new_raw):
        assert a == b
    for a, b in zip(old_obj, new_obj):
        for field in FIELDS:
            assert getattr(a, field) == getattr(b, field), field
