"""What every task shares: claiming its row, running one service step and recording its outcome."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from hcl_server.db import Dataset, Job
from hcl_server.errors import Unavailable
from hcl_server.extensions import db
from hcl_server.services.heartbeat import Stopped
from hcl_server.services.jobs import claim_and_load, fail, heartbeat_for, running_job
from ml_pipeline.data.options import api_wording
from ml_pipeline.errors import PipelineError

logger = logging.getLogger(__name__)
Row = TypeVar("Row", Job, Dataset)


def run_claimed(
    model: type[Row],
    row_id: str,
    step: Callable[[Row], None],
    *,
    what: str,
    internal_error: str,
    redelivered: bool = False,
) -> None:
    """Claim the row for this delivery (services.jobs.claim: a redelivered task takes over the
    row of a worker that died) and run ``step`` on it with a heartbeat (see ``record_outcome``);
    skip it, logged, when another delivery is alive with it or it has finished."""
    claimed = claim_and_load(model, row_id, redelivered)
    if claimed is None:
        logger.info("%s %s is finished or held by a live delivery; skipping this one", what, row_id)
        return
    row, attempt = claimed
    with heartbeat_for(row, attempt):
        record_outcome(row, step, what=what, internal_error=internal_error)


def run_while_running(
    job_id: str, step: Callable[[Job], None], *, what: str, internal_error: str, prefix: str = ""
) -> None:
    """Run ``step`` on a job that is still running (see ``record_outcome``); a job cancelled or
    failed meanwhile is left alone."""
    job = running_job(job_id)
    if job is not None:
        record_outcome(job, step, what=what, internal_error=internal_error, prefix=prefix)


def record_outcome(
    row: Row, step: Callable[[Row], None], *, what: str, internal_error: str, prefix: str = ""
) -> None:
    """Run a service step on a running row; if it raises, record the failure on the row.

    A PipelineError is the data's fault: its message goes to the client (after ``prefix``), worded
    with the API's form fields where ml_pipeline names a CLI flag (every file here came through the
    API: "pass --date-format" reads "pass the date_format field"). A broker that stayed unreachable
    while the step enqueued its next task, or a file storage that did not answer within
    STORAGE_RETRY_S (Unavailable, StorageUnavailable), fails the row with that reason. Any other
    exception is ours: it is logged with its traceback and the client reads ``internal_error``. A
    row cancelled meanwhile stays cancelled (services.jobs.fail); a step that notices it (Stopped)
    ends without a word on the row.
    """
    ctx = {f"{row.__tablename__[:-1]}_id": row.id, "org_id": row.organization_id}
    try:
        step(row)
    except Stopped as exc:  # cancelled, failed or taken over meanwhile: its state is already right
        db.session.rollback()
        logger.info("%s %s (org %s): %sstopped: %s", what, *ctx.values(), prefix, exc, extra=ctx)
    except PipelineError as exc:
        logger.info("%s %s (org %s): %s%s", what, *ctx.values(), prefix, exc, extra=ctx)
        fail(row, prefix + api_wording(str(exc)))
    except Unavailable as exc:  # the broker or the storage stayed down longer than their retries
        logger.warning("%s %s (org %s): %s%s", what, *ctx.values(), prefix, exc.message, extra=ctx)
        fail(row, prefix + exc.message)
    except Exception:
        logger.exception("%s %s (org %s): %sunexpected error", what, *ctx.values(), prefix, extra=ctx)
        fail(row, internal_error)


def redelivered(task) -> bool:
    """Whether the broker hands this task out again because the worker that had it died (Redis
    restores an unacknowledged task after the visibility timeout and marks it redelivered)."""
    return bool((task.request.delivery_info or {}).get("redelivered"))
