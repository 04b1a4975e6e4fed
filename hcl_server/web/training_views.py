"""Training jobs in the web pages: watch one train, cancel it, and go on to the version it made."""

from __future__ import annotations

import contextlib

from flask import g, jsonify, redirect, render_template, url_for

from hcl_server.errors import Conflict
from hcl_server.services import datasets, training
from hcl_server.web import bp
from hcl_server.web.forms import job_state
from hcl_server.web.views import signed_in_only


def training_state(job) -> dict:
    """The training page's state (forms.job_state) with the version it registered, once it has."""
    return job_state(job, model_version=(job.result or {}).get("model_version"))


@bp.get("/training-jobs/<job_id>")
@signed_in_only
def training_job(job_id: str):
    """One training job: its stage and progress bar (static/job.js), cancel, its error and what
    to do, and once done the model type chosen for each target and a link to the version."""
    job = training.get_training_job(g.org_id, job_id)
    result = job.result or {}
    return render_template(
        "web/training_job.html",
        job=job,
        state=training_state(job),
        dataset=datasets.get_dataset(g.org_id, job.dataset_id) if job.dataset_id else None,
        selection=result.get("selection") or {},
        how=result.get("training") or {},
    )


@bp.get("/training-jobs/<job_id>/state")
@signed_in_only
def training_job_state(job_id: str):
    """The job's state as JSON, for the page's script."""
    return jsonify(training_state(training.get_training_job(g.org_id, job_id)))


@bp.post("/training-jobs/<job_id>/cancel")
@signed_in_only
def cancel_training(job_id: str):
    with contextlib.suppress(Conflict):  # finished meanwhile: the page shows how it ended
        training.cancel_training_job(g.org_id, job_id)
    return redirect(url_for("web.training_job", job_id=job_id))
