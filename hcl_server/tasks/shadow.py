"""Shadow scoring of a bulk job's candidate model, one partition per task, after the job succeeded.

The work, and why it is safe to run twice, is in services/shadow_scoring.py.
"""

from __future__ import annotations

from celery import shared_task

from hcl_server.services import shadow_scoring


@shared_task(name="hcl.bulk.shadow", ignore_result=True)
def score_shadow(job_id: str, index: int) -> None:
    """Score one partition with the job's candidate and store the rows apart from its predictions."""
    shadow_scoring.score_shadow_partition(job_id, index)
