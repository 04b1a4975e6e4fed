"""Training jobs and model versions: validate, commit the job, enqueue; the worker trains and registers."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from hcl_server.celery_app import enqueue_or_fail
from hcl_server.db import Job, ModelVersion
from hcl_server.db.params import TrainingParams
from hcl_server.errors import Conflict, Unprocessable
from hcl_server.extensions import db
from hcl_server.repositories import datasets, jobs, model_versions
from hcl_server.services import registry
from hcl_server.services.datasets import read_events
from hcl_server.services.heartbeat import Stopped
from hcl_server.services.jobs import ProgressWriter, admit, cancel_job
from hcl_server.services.reading import api_messages
from hcl_server.services.webhooks import job_ended, job_failed
from hcl_server.storage import put_dir
from ml_pipeline.data.days import date_to_day, day_to_date
from ml_pipeline.data.labels import FIELD as CHURN_LABEL
from ml_pipeline.models.registry import parse_models
from ml_pipeline.serving.bundle import save_bundle
from ml_pipeline.training.trainer import TrainConfig, train

logger = logging.getLogger(__name__)

HORIZON_DAYS = (1, 365)  # the shortest and longest horizon_days and churn_horizon_days


def create_training_job(org_id: str, request: dict) -> Job:
    """Check the dataset is usable, commit a queued job, then enqueue it.

    ``request`` holds dataset_id and the TrainingParams fields (None: the default). Raises
    NotFound for another organization's dataset, Conflict while it is unread or unreadable,
    Unprocessable for churn_label on a dataset without a churn label column, TooManyJobs at the
    organization's limit (services.jobs.admit).
    """
    params = TrainingParams.from_dict(request)
    dataset = datasets.get_for_org(org_id, request["dataset_id"])
    if dataset.status == "failed":
        raise Conflict(f"dataset {dataset.id} could not be read: {dataset.error}")
    if dataset.status != "succeeded":
        raise Conflict(f"dataset {dataset.id} is still being read (status {dataset.status}); retry shortly")
    if params.churn_label:
        check_label_column(dataset)
    problem = as_of_problem((dataset.profile or {}).get("last_date"), params)
    if problem:
        raise Unprocessable(problem)
    priority = admit(org_id)
    job = Job(organization_id=org_id, kind="training", dataset_id=dataset.id, params=params.to_dict())
    db.session.add(job)
    db.session.commit()
    enqueue_or_fail(job, "hcl.training.run", job.id, priority=priority, on_failed=job_failed)
    return job


def as_of_problem(last_date: str | None, params: TrainingParams) -> str | None:
    """Why ``params.as_of`` cannot train an honest model on a log whose last event is on
    ``last_date`` (YYYY-MM-DD), or None. An as-of date a whole horizon or more after the day after
    the last event leaves the newest window, the one validated on, without any event: every
    customer would look churned and spend nothing there, and the metrics would say nothing."""
    if not last_date or not params.as_of:
        return None
    horizon = min(params.horizon_days or 30, params.churn_horizon_days or 30)
    empty_days = (date_to_day(params.as_of) - date_to_day(last_date)) - 1
    if empty_days < horizon:
        return None
    latest = day_to_date(date_to_day(last_date) + horizon)
    return (
        f"as_of {params.as_of} leaves {empty_days} days without any event after the log's last one "
        f"({last_date}): the newest {horizon}-day window, the one validated on, would hold none, so "
        f"every customer would look churned there; use an as_of up to {latest}, or leave it out "
        "(the day after the last event)"
    )


def check_label_column(dataset) -> None:
    """Refuse churn_label on a dataset whose profile read no churn label column (Unprocessable),
    rather than silently learning the churn derived from purchases."""
    columns = (dataset.profile or {}).get("columns") or {}
    if CHURN_LABEL not in columns:
        raise Unprocessable(
            f"dataset {dataset.id} has no churn label column (columns read: {', '.join(columns.values())}); "
            f"upload the file with a {CHURN_LABEL} column (0/1, yes/no or true/false per customer; also "
            'recognized: churn, churned, is_churned, label) or map one with column_mapping {"churn_label": '
            '"HEADER"}, or leave churn_label out to learn the churn derived from purchases'
        )


def get_training_job(org_id: str, job_id: str) -> Job:
    """The organization's training job; NotFound otherwise."""
    return jobs.get_for_org(org_id, job_id, "training", "training job")


def list_training_jobs(org_id: str, limit: int, offset: int) -> tuple[list[Job], int]:
    """The organization's training jobs, newest first: (one page of at most ``limit`` from
    ``offset``, the total count)."""
    return jobs.page_for_org(org_id, "training", limit, offset)


def list_models(org_id: str) -> list[ModelVersion]:
    """The organization's model versions, newest first."""
    return model_versions.list_for_org(org_id)


def get_model(org_id: str, version: int) -> ModelVersion:
    """The organization's model version by number; NotFound otherwise."""
    return model_versions.get_for_org(org_id, version)


def run_training(job: Job) -> None:
    """Train a claimed job on its dataset, store the bundle, register the version; commits.

    Raises ml_pipeline's PipelineError for data that cannot be trained on.
    """
    params = TrainingParams.from_dict(job.params)
    config = TrainConfig(
        horizon_days=params.horizon_days or 30,
        churn_horizon_days=params.churn_horizon_days or 30,
        models=parse_models(params.models),
        churn_label=bool(params.churn_label),
    )
    progress = ProgressWriter(job.id)
    with tempfile.TemporaryDirectory() as tmp:
        progress("loading", 0.0)
        log = read_events(datasets.get(job.dataset_id), Path(tmp))
        as_of = date_to_day(params.as_of) if params.as_of else None
        trained = train(log, config, as_of=as_of, on_progress=progress)
        progress("saving", 0.98)
        bundle = save_bundle(trained, log, Path(tmp) / "bundle")
        metadata = json.loads((bundle / "metadata.json").read_text())
        mv = register_model(job, bundle, metadata)
    result = {"metrics": metadata["metrics"], "selection": metadata["selection"], "model_version": mv.version}
    result["training"] = metadata["training"]  # which model was trained and why (rolling windows or BG/NBD)
    warnings = api_messages(list(log.warnings) + list(trained.warnings))
    # Conditional: a job cancelled while it trained stays cancelled and its version is not kept.
    if not jobs.succeed(job.id, result, warnings, model_version_id=mv.id):
        raise Stopped(f"training job {job.id} was cancelled while it trained")
    job_ended(job, "succeeded")
    db.session.commit()
    logger.info(
        "training job %s (org %s) succeeded: version %s",
        job.id,
        job.organization_id,
        mv.version,
        extra={"job_id": job.id, "org_id": job.organization_id},
    )


def register_model(job: Job, bundle_dir: Path, metadata: dict) -> ModelVersion:
    """Upload a bundle and record its version with its lineage (flushed, not committed): an
    organization without a production model gets this one as production, otherwise it becomes the
    candidate (services.registry.on_registered, logged). Raises RuntimeError if three tries lose
    the race for a number (or for a new alias)."""
    org_id = job.organization_id
    for _ in range(3):  # two jobs finishing at once may race for a version number
        version = model_versions.next_version(org_id)
        prefix = f"orgs/{org_id}/models/v{version}-{job.id}"
        put_dir(prefix, bundle_dir)
        has_production = model_versions.has_production(org_id)
        mv = ModelVersion(
            organization_id=org_id,
            version=version,
            storage_prefix=prefix,
            training_job_id=job.id,
            dataset_id=job.dataset_id,
            training_data_sha256=(metadata.get("training_data") or {}).get("sha256"),
            params=dict(job.params or {}),
            metrics=metadata["metrics"],
            bundle_metadata=metadata,
        )
        db.session.add(mv)
        try:
            db.session.flush()
            registry.on_registered(mv, became_production=not has_production)
            return mv
        except IntegrityError:
            db.session.rollback()
    raise RuntimeError("could not allocate a model version number")


def cancel_training_job(org_id: str, job_id: str) -> Job:
    """Cancel a queued or running training job: a queued one never starts, a running one stops at
    its next progress report and registers no version. Conflict once it has finished."""
    get_training_job(org_id, job_id)
    cancel_job(job_id, "training job")
    return get_training_job(org_id, job_id)
