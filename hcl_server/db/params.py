"""Typed parameters of each job kind, stored as a dict in ``Job.params`` (a JSON column).

The stored dict is what the API shows as a job's ``params``: ``to_dict`` writes the same keys as
before these classes existed, and ``from_dict`` reads every row written since.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import ClassVar


@dataclass
class TrainingParams:
    """What a training job was asked for; None means the default (30 days, the day after the last
    event, every model type, churn derived from purchases)."""

    horizon_days: int | None = None
    churn_horizon_days: int | None = None
    as_of: str | None = None  # YYYY-MM-DD
    models: list[str] | None = None
    churn_label: bool | None = None  # learn churn from the dataset's churn label column
    trigger: str | None = None  # "schedule" for a scheduled retrain (services.schedules); not an API field

    def to_dict(self) -> dict:
        """The JSON column's dict: only the values that were given."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict) -> TrainingParams:
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})


@dataclass
class BulkParams:
    """A bulk job's upload and options, plus what the split decided for every partition.

    ``read_options`` holds ml_pipeline's ``ReadOptions.to_dict()``: the reading options given at
    upload, stored only when some were (None otherwise, as on rows stored before it).
    ``partition_shards[i]`` lists the shard numbers of partition i; ``columns`` maps canonical
    fields to the file's headers and ``formats`` holds the date and decimal formats decided for
    the whole file (ml_pipeline.data.sharding.Shards); ``partitions`` to ``formats`` are None until the split.
    ``shadow_model_version_id``: the candidate version scored in shadow after the job succeeds
    (services/shadow.py), fixed at submission; None (and left out of the dict) when the
    organization's candidate alias named no version other than production then.
    """

    name: str
    filename: str
    storage_key: str
    size_bytes: int
    as_of: str | None  # YYYY-MM-DD: asked for at upload, else set by the split
    partition_customers: int
    read_options: dict | None = None
    shadow_model_version_id: str | None = None
    partitions: int | None = None
    partition_shards: list[list[int]] | None = None
    columns: dict[str, str] | None = None
    formats: dict[str, str] | None = None

    SPLIT_FIELDS: ClassVar[tuple[str, ...]] = ("partitions", "partition_shards", "columns", "formats")

    def to_dict(self) -> dict:
        """The JSON column's dict; the split's fields only once the split has set them, the
        reading options only when some were given, the shadow version only when there is one."""
        data = asdict(self)
        if not data["read_options"]:
            del data["read_options"]
        if data["shadow_model_version_id"] is None:
            del data["shadow_model_version_id"]
        return {k: v for k, v in data.items() if k not in self.SPLIT_FIELDS or v is not None}

    @classmethod
    def from_dict(cls, data: dict) -> BulkParams:
        """Read a stored dict; rows written before the rename keep the formats under "decided"."""
        data = dict(data)
        if "formats" not in data and "decided" in data:
            data["formats"] = data.pop("decided")
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})
