"""Stored predictions: pages of a bulk job's, and a customer's latest."""

from __future__ import annotations

from hcl_server.db import Prediction
from hcl_server.errors import NotFound
from hcl_server.repositories import predictions
from hcl_server.services.bulk import get_bulk_job


def prediction_page(
    org_id: str, job_id: str, risk_segment: str | None, sort: str, limit: int, offset: int
) -> tuple[list[Prediction], int]:
    """One page of a bulk job's stored predictions, filtered and sorted: (rows, total).

    Raises NotFound for another organization's job.
    """
    job = get_bulk_job(org_id, job_id)
    return predictions.page_for_job(org_id, job.id, risk_segment, sort, limit, offset)


def latest_prediction(org_id: str, customer_id: str) -> Prediction:
    """The customer's prediction from the most recent finished bulk job that scored them; NotFound
    if none did."""
    row = predictions.latest_for_customer(org_id, customer_id)
    if row is None:
        raise NotFound(f"no stored prediction for customer {customer_id}")
    return row
