"""Tables: organizations and their keys, datasets, jobs, model versions with their aliases and the
aliases' log, stored predictions (and the candidate's, in shadow), drift reports, realized
outcomes, webhooks and their deliveries, schedules."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    inspect,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hcl_server.extensions import db

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED = ("succeeded", "failed", "cancelled")


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, nullable=False
    )


class Organization(TimestampMixin, db.Model):
    __tablename__ = "organizations"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    risk_thresholds: Mapped[dict | None] = mapped_column(JSON)
    # Overrides of ml_pipeline.monitoring.drift.DEFAULT_THRESHOLDS ({feature_psi, prediction_psi,
    # unseen_share}); None: the defaults.
    drift_thresholds: Mapped[dict | None] = mapped_column(JSON)
    # Automatic promotion of the candidate ({enabled, margin (on the realized log loss),
    # min_customers}, services.champion); None: off, with the defaults.
    auto_promotion: Mapped[dict | None] = mapped_column(JSON)


class ApiKey(TimestampMixin, db.Model):
    """An API key, stored as its SHA-256; the key itself is shown once, at creation."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), nullable=False, index=True)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    prefix: Mapped[str] = mapped_column(String(12), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Dataset(TimestampMixin, db.Model):
    """An uploaded event log; its profile is computed by a worker."""

    __tablename__ = "datasets"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(300), nullable=False)
    filename: Mapped[str] = mapped_column(String(300), nullable=False)
    storage_key: Mapped[str] = mapped_column(String(500), nullable=False)
    size_bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    # Written with read_options (which holds it too) for code that predates read_options; a row
    # stored before read_options has only this (services.datasets.dataset_options reads both).
    column_mapping: Mapped[dict | None] = mapped_column(JSON)
    # ml_pipeline's ReadOptions.to_dict(): the reading options given at upload ({} when none were;
    # None on a row stored before this column).
    read_options: Mapped[dict | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    profile: Mapped[dict | None] = mapped_column(JSON)
    warnings: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    # Written every few seconds by the worker profiling it (services.heartbeat): a running row
    # whose heartbeat stops is taken over (services.reconcile).
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Job(TimestampMixin, db.Model):
    """A background job (training or bulk scoring); its state lives here, not in Celery."""

    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # training | bulk
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    stage: Mapped[str | None] = mapped_column(String(64))
    progress: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    warnings: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    params: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    result: Mapped[dict | None] = mapped_column(JSON)
    dataset_id: Mapped[str | None] = mapped_column(ForeignKey("datasets.id"))
    model_version_id: Mapped[str | None] = mapped_column(ForeignKey("model_versions.id"))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Written every few seconds while a worker runs its split, training, merge or Excel step.
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Loaded with the job by the repository (a joined load) where a response shows it; never by
    # a query of its own, so serializing a page of jobs runs no query per row.
    model_version: Mapped[ModelVersion | None] = relationship(lazy="raise")
    # A bulk job's drift report (none before its merge); eager-loaded where jobs are shown.
    drift_report: Mapped[DriftReport | None] = relationship(viewonly=True, uselist=False)


class ModelVersion(TimestampMixin, db.Model):
    """A trained bundle in storage and its lineage, fixed at registration; ``is_production`` is
    kept in step with the organization's ``production`` alias (in the same transaction), so the
    production lookup on every prediction reads one indexed row."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("organization_id", "version"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), nullable=False, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    storage_prefix: Mapped[str] = mapped_column(String(500), nullable=False)
    training_job_id: Mapped[str | None] = mapped_column(String(36))
    is_production: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    promoted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    metrics: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    bundle_metadata: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    # Lineage (with training_job_id and metrics): NULL on versions registered before it was kept
    # and not recoverable by the migration.
    dataset_id: Mapped[str | None] = mapped_column(String(36))
    training_data_sha256: Mapped[str | None] = mapped_column(String(64))
    params: Mapped[dict | None] = mapped_column(JSON)
    # The organization's aliases naming this version (loaded with it, in one query per page).
    aliases: Mapped[list[ModelAlias]] = relationship(
        lazy="selectin", viewonly=True, order_by="ModelAlias.alias"
    )

    @property
    def lineage(self) -> dict:
        """Where the version came from: dataset, training job, data hash, parameters, metrics."""
        return {name: getattr(self, name) for name in LINEAGE}


LINEAGE = ("dataset_id", "training_job_id", "training_data_sha256", "params", "metrics")
# Written at registration, never changed: the ORM refuses an UPDATE of any of them.
IMMUTABLE = ("organization_id", "version", "storage_prefix", "bundle_metadata", *LINEAGE)


@event.listens_for(ModelVersion, "before_update")
def _lineage_is_immutable(mapper, connection, target: ModelVersion) -> None:
    state = inspect(target)
    changed = [name for name in IMMUTABLE if state.attrs[name].history.deleted]
    if changed:
        raise ValueError(
            f"model version {target.version}: {', '.join(changed)} cannot change after registration"
        )


class ModelAlias(TimestampMixin, db.Model):
    """A named pointer (production, candidate, ...) at one version of the organization."""

    __tablename__ = "model_aliases"
    __table_args__ = (UniqueConstraint("organization_id", "alias"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), nullable=False, index=True)
    alias: Mapped[str] = mapped_column(String(40), nullable=False)
    model_version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"), nullable=False, index=True)


class ModelAliasEvent(db.Model):
    """One change of an alias (append-only: the app never updates or deletes a row)."""

    __tablename__ = "model_alias_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), nullable=False, index=True)
    alias: Mapped[str] = mapped_column(String(40), nullable=False)
    from_version: Mapped[int | None] = mapped_column(Integer)  # None: the alias was new
    to_version: Mapped[int | None] = mapped_column(Integer)  # None: the alias was removed
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    # The API key id that made the change, "rule:<name>" for an automatic one, or "migration".
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)


class BulkPartition(db.Model):
    """One customer partition of a bulk job; the last partition to finish triggers the merge."""

    __tablename__ = "bulk_partitions"
    __table_args__ = (UniqueConstraint("job_id", "index"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), nullable=False, index=True)
    index: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(
        String(16), nullable=False, default="pending"
    )  # pending | running | done
    customers: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # What the merge needs (services.bulk_results.partition_summary), plus "shadow": the outcome of
    # the candidate's shadow scoring of this partition, once recorded (services/shadow.py).
    summary: Mapped[dict | None] = mapped_column(JSON)
    # Deliveries that claimed it (services.jobs.claim_partition); the third death fails the job.
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The partition's counts per drift-reference bin (features, predictions) and its category
    # weights, summed over partitions by the job's drift task; None: the model has no reference.
    drift_counts: Mapped[dict | None] = mapped_column(JSON)


class Prediction(db.Model):
    """A stored per-customer prediction from a bulk job; numbers are stored as numbers."""

    __tablename__ = "predictions"
    __table_args__ = (UniqueConstraint("job_id", "customer_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), nullable=False, index=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), nullable=False, index=True)
    partition: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    customer_id: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    churn_probability: Mapped[float] = mapped_column(Float, nullable=False)
    risk_segment: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    spend_total: Mapped[float] = mapped_column(Float, nullable=False)
    spend: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    reasons: Mapped[list] = mapped_column(JSON, nullable=False, default=list, server_default="[]")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class ShadowPrediction(db.Model):
    """A candidate model's prediction of a customer in a bulk job, scored in shadow: stored apart
    from the job's predictions, never in its downloads; compared with them once outcomes mature."""

    __tablename__ = "shadow_predictions"
    __table_args__ = (UniqueConstraint("job_id", "model_version_id", "customer_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), nullable=False, index=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), nullable=False, index=True)
    model_version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"), nullable=False, index=True)
    partition: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    customer_id: Mapped[str] = mapped_column(String(200), nullable=False)
    churn_probability: Mapped[float] = mapped_column(Float, nullable=False)
    spend_total: Mapped[float] = mapped_column(Float, nullable=False)
    spend: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class DriftReport(TimestampMixin, db.Model):
    """A bulk job's drift against its model's training reference (ml_pipeline.monitoring.drift
    .report of its partitions' summed counts, with its alerts); one per job, added pending by the
    merge and written by the job's drift task (services.bulk_drift)."""

    __tablename__ = "drift_reports"
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), nullable=False, index=True)
    model_version_id: Mapped[str | None] = mapped_column(ForeignKey("model_versions.id"), index=True)
    status: Mapped[str] = mapped_column(
        String(16), nullable=False, default="pending"
    )  # pending | done | failed | no_reference
    report: Mapped[dict | None] = mapped_column(JSON)
    alerts: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    model_version: Mapped[ModelVersion | None] = relationship(lazy="raise", viewonly=True)


class Outcome(TimestampMixin, db.Model):
    """How one model version's stored predictions of one bulk job turned out, scored against a
    newer log (a dataset or a bulk job's file) that covers the horizon after the job's as-of date.
    ``shadow``: the predictions are the candidate's shadow ones. ``metrics``: {churn: {auc, brier,
    calibration, ...}, spend: {...}}; ``comparison``: the paired test against the job's production
    predictions on the same customers (shadow rows only)."""

    __tablename__ = "outcomes"
    __table_args__ = (UniqueConstraint("job_id", "model_version_id", "source_id"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), nullable=False, index=True)
    model_version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"), nullable=False, index=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), nullable=False, index=True)
    shadow: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    source_kind: Mapped[str] = mapped_column(String(16), nullable=False)  # dataset | bulk
    source_id: Mapped[str] = mapped_column(String(36), nullable=False)
    as_of: Mapped[str] = mapped_column(String(10), nullable=False)  # ISO date of the predictions
    customers: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    metrics: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    comparison: Mapped[dict | None] = mapped_column(JSON)


class Webhook(TimestampMixin, db.Model):
    """A URL an organization registered to hear of every job that ends, with the secret its
    events are signed with (kept as given: it must be read back to sign; never shown again)."""

    __tablename__ = "webhooks"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), nullable=False, index=True)
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    secret: Mapped[str] = mapped_column(String(200), nullable=False)


DELIVERY_STATUSES = ("pending", "delivered", "failed")


class WebhookDelivery(TimestampMixin, db.Model):
    """One event for one webhook: the body sent (the same on every attempt), where it stands
    (pending, delivered, failed), its attempts so far and when the next is due; ``history``
    holds every attempt: {attempt, at, status_code, error, duration_ms}."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    webhook_id: Mapped[str] = mapped_column(
        ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False, index=True
    )
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), nullable=False, index=True)
    event_id: Mapped[str] = mapped_column(String(36), nullable=False)
    event_type: Mapped[str] = mapped_column(String(64), nullable=False)
    job_id: Mapped[str] = mapped_column(String(36), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Due time of the next attempt while pending; while an attempt is in flight, the end of its
    # lease (a worker that dies sending it leaves it due again for the reconciler).
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    history: Mapped[list] = mapped_column(JSON, nullable=False, default=list)


SCHEDULE_KINDS = ("retrain", "rescore")


class Schedule(TimestampMixin, db.Model):
    """An organization's recurring work of one kind (retrain, rescore): a cron expression read in
    its time zone. ``last_due_at`` is the latest fire time already taken (or when the schedule was
    set: earlier fire times never run); ``last_run_at``, ``last_job_id`` and ``last_error`` tell
    how the last run that fired went (services.schedules)."""

    __tablename__ = "schedules"
    __table_args__ = (UniqueConstraint("organization_id", "kind"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # retrain | rescore
    cron: Mapped[str] = mapped_column(String(200), nullable=False)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False)
    last_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_job_id: Mapped[str | None] = mapped_column(String(36))
    last_error: Mapped[str | None] = mapped_column(Text)
