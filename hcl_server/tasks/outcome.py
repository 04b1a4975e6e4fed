"""What every task shares: claiming its row, running one service step and recording its outcome."""

from __future__ import annotations

import logging
from collections.abc import Callable

from hcl_server.db import Dataset, Job
from hcl_server.services.jobs import claim_and_load, fail
from ml_pipeline.errors import PipelineError

logger = logging.getLogger(__name__)


def claimed(model: type[Job] | type[Dataset], row_id: str, what: str) -> Job | Dataset | None:
    """The row this delivery claimed, or None (logged) when another delivery has it."""
    row = claim_and_load(model, row_id)
    if row is None:
        logger.info("%s %s already claimed; skipping this delivery", what, row_id)
    return row


def record_outcome(
    row: Job | Dataset, step: Callable[[], None], *, what: str, internal_error: str, prefix: str = ""
) -> None:
    """Run a service step on a running row; if it raises, record the failure on the row.

    A PipelineError is the data's fault: its message goes to the client (after ``prefix``). Any
    other exception is ours: it is logged with its traceback and the client reads
    ``internal_error``. A row cancelled meanwhile stays cancelled (services.jobs.fail).
    """
    ctx = {f"{row.__tablename__[:-1]}_id": row.id, "org_id": row.organization_id}
    try:
        step()
    except PipelineError as exc:
        logger.info("%s %s (org %s): %s%s", what, *ctx.values(), prefix, exc, extra=ctx)
        fail(row, prefix + str(exc))
    except Exception:
        logger.exception("%s %s (org %s): %sunexpected error", what, *ctx.values(), prefix, extra=ctx)
        fail(row, internal_error)


def redelivered(task) -> bool:
    """Whether the broker hands this task out again because the worker that had it died (Redis
    restores an unacknowledged task after the visibility timeout and marks it redelivered)."""
    return bool((task.request.delivery_info or {}).get("redelivered"))
