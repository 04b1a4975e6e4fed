"""Champion–challenger (issue 15): every bulk job also scores the organization's candidate model
"in shadow", stored apart from the job's predictions (``shadow_predictions``), never in its
downloads or predictions pages, so the candidate's realized metrics can later sit next to
production's on the same customers.

What is scored in shadow is fixed when the job is submitted (``shadow_version_id``, kept in the
job's params). The worker's side is services/shadow_scoring.py: one low-priority task per
partition, sent once the job has succeeded, so the job's result never waits for it. Each task
records its outcome in its partition's summary (``summary["shadow"]``: {status: done, customers}
or {status: failed, error}); its partition row has no other writer by then, so no outcome is
lost to a concurrent write of the job's result (the Excel task rewrites that). The job answer
sums them up (``attach_states``).
"""

from __future__ import annotations

from collections import defaultdict

from hcl_server.db import BulkPartition, Job, ModelVersion
from hcl_server.db.params import BulkParams
from hcl_server.extensions import db
from hcl_server.repositories import model_aliases, partitions
from hcl_server.services.registry import CANDIDATE

# The job ended before its shadow scoring did (failed or cancelled): its shadow tasks do nothing.
STOPPED_JOB = ("failed", "cancelled")


def shadow_version_id(org_id: str, production_id: str) -> str | None:
    """The id of the version the organization's ``candidate`` alias names, when it is not the
    production version ``production_id``; None otherwise (no candidate, or the candidate was
    promoted and the alias still names it)."""
    candidate = model_aliases.model_version_id_of(org_id, CANDIDATE)
    return candidate if candidate and candidate != production_id else None


def attach_states(rows: list[Job]) -> None:
    """Set ``job.shadow_state`` on each bulk job (see ``state``), with two queries for the whole
    list (partitions, version numbers)."""
    shadowed = {job.id: job for job in rows if (job.params or {}).get("shadow_model_version_id")}
    for job in rows:
        job.shadow_state = None
    if not shadowed:
        return
    outcomes: dict[str, list[dict]] = defaultdict(list)
    for job_id, summary in db.session.execute(
        db.select(BulkPartition.job_id, BulkPartition.summary)
        .where(BulkPartition.job_id.in_(shadowed))
        .order_by(BulkPartition.index)
    ):
        if summary and "shadow" in summary:
            outcomes[job_id].append(summary["shadow"])
    ids = {job.params["shadow_model_version_id"] for job in shadowed.values()}
    versions = dict(
        db.session.execute(
            db.select(ModelVersion.id, ModelVersion.version).where(ModelVersion.id.in_(ids))
        ).all()
    )
    for job_id, job in shadowed.items():
        job.shadow_state = state(job, versions.get(job.params["shadow_model_version_id"]), outcomes[job_id])


def state(job: Job, version: int | None, outcomes: list[dict]) -> dict:
    """The job's shadow scoring as the API shows it: {version, status, customers, error}.

    ``outcomes``: the partitions' recorded shadow outcomes (any order). ``status`` is ``failed``
    once any partition failed (``error`` says why, naming the partition), ``done`` when every
    partition is done, ``stopped`` when the job failed or was cancelled first, else ``pending``;
    ``customers`` counts the customers scored in shadow so far.
    """
    params = BulkParams.from_dict(job.params)
    failed = [o for o in outcomes if o.get("status") == "failed"]
    done = [o for o in outcomes if o.get("status") == "done"]
    if failed:
        status = "failed"
    elif params.partitions is not None and len(done) == params.partitions:
        status = "done"
    elif job.status in STOPPED_JOB:
        status = "stopped"
    else:
        status = "pending"
    return {
        "version": version,
        "status": status,
        "customers": sum(o.get("customers", 0) for o in done),
        "error": failed[0].get("error") if failed else None,
    }


def complete_version(job: Job) -> str | None:
    """The id of the version scored in shadow on the job when every partition of it is done (its
    rows are then complete and may be compared with production's), else None."""
    version_id = (job.params or {}).get("shadow_model_version_id")
    if version_id is None:
        return None
    outcomes = [(p.summary or {}).get("shadow") or {} for p in partitions.in_order(job.id)]
    return version_id if state(job, None, outcomes)["status"] == "done" else None
