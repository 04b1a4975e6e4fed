"""ORM models (the word "model" elsewhere means an ML model)."""

from hcl_server.db.models import (
    ApiKey,
    BulkPartition,
    Dataset,
    Job,
    ModelAlias,
    ModelAliasEvent,
    ModelVersion,
    Organization,
    Prediction,
    Schedule,
    Webhook,
    WebhookDelivery,
)

__all__ = [
    "ApiKey",
    "BulkPartition",
    "Dataset",
    "Job",
    "ModelAlias",
    "ModelAliasEvent",
    "ModelVersion",
    "Organization",
    "Prediction",
    "Schedule",
    "Webhook",
    "WebhookDelivery",
]
