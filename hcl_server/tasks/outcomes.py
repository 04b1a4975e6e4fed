"""Realized accuracy: a newer log scores the stored predictions it covers (services/outcomes.py)."""

from __future__ import annotations

from celery import shared_task

from hcl_server.services import outcomes


@shared_task(name="hcl.outcomes.score", ignore_result=True)
def score_outcomes(org_id: str, kind: str, source_id: str) -> None:
    """Score the organization's matured bulk jobs against a dataset or a bulk job's file
    (``kind`` "dataset" or "bulk"); safe to run twice."""
    outcomes.score_source(org_id, kind, source_id)
