"""The reconciler, run by Celery beat every RECONCILE_EVERY_S (and once when a worker starts)."""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_ready

from hcl_server.services import reconcile


@shared_task(name="hcl.reconcile", ignore_result=True)
def reconcile_work() -> None:
    """Re-send lost tasks and take over work whose worker died (services/reconcile.py)."""
    reconcile.reconcile()


@worker_ready.connect(weak=False)
def _reconcile_on_start(sender, **_) -> None:
    # A worker that starts after a crash or a broker restart looks for lost work at once rather
    # than at the next beat.
    sender.app.send_task("hcl.reconcile", expires=60)
