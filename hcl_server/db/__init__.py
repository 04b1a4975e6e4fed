"""ORM models (the word "model" elsewhere means an ML model)."""

from hcl_server.db.models import (
    ApiKey,
    BulkPartition,
    Dataset,
    DriftReport,
    Job,
    ModelAlias,
    ModelAliasEvent,
    ModelVersion,
    Organization,
    Outcome,
    Prediction,
    Schedule,
    ShadowPrediction,
    Webhook,
    WebhookDelivery,
)

__all__ = [
    "ApiKey",
    "BulkPartition",
    "Dataset",
    "DriftReport",
    "Job",
    "ModelAlias",
    "ModelAliasEvent",
    "ModelVersion",
    "Organization",
    "Outcome",
    "Prediction",
    "Schedule",
    "ShadowPrediction",
    "Webhook",
    "WebhookDelivery",
]
