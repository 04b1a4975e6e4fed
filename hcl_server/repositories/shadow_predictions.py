"""Stored predictions of candidate models scored in shadow in bulk jobs (services/shadow.py)."""

from __future__ import annotations

from sqlalchemy import delete, insert

from hcl_server.db import ShadowPrediction
from hcl_server.extensions import db


def replace_partition(job_id: str, model_version_id: str, partition: int, records: list[dict]) -> None:
    """Replace the version's rows of one partition of a job (one bulk insert): a task sent twice
    never duplicates them."""
    db.session.execute(
        delete(ShadowPrediction).where(
            ShadowPrediction.job_id == job_id,
            ShadowPrediction.model_version_id == model_version_id,
            ShadowPrediction.partition == partition,
        )
    )
    if records:
        db.session.execute(insert(ShadowPrediction), records)
