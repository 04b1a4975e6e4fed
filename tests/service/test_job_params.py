"""Typed job parameters read and write the JSON column's dict as it always was."""

from __future__ import annotations

from hcl_server.db.params import BulkParams, TrainingParams


def test_training_params_store_only_what_was_given():
    request = {
        "dataset_id": "d1",
        "horizon_days": 14,
        "churn_horizon_days": None,
        "as_of": None,
        "models": ["linear"],
    }
    params = TrainingParams.from_dict(request)
    assert params.to_dict() == {"horizon_days": 14, "models": ["linear"]}
    assert TrainingParams.from_dict(params.to_dict()) == params


def test_bulk_params_before_and_after_the_split():
    upload = {
        "name": "nightly",
        "filename": "e.csv",
        "storage_key": "orgs/o/bulk/j/e.csv",
        "size_bytes": 10,
        "as_of": None,
        "partition_customers": 150,
    }
    params = BulkParams.from_dict(upload)
    assert params.to_dict() == upload  # as_of stays, as null; the split's keys are absent
    params.as_of, params.partitions, params.partition_shards = "2024-06-01", 1, [[0, 1]]
    params.columns, params.formats = {"customer_id": "id"}, {"date": "%Y-%m-%d", "amount": "dot"}
    stored = params.to_dict()
    assert list(stored) == [*upload, "partitions", "partition_shards", "columns", "formats"]
    assert BulkParams.from_dict(stored) == params


def test_bulk_params_read_an_old_rows_decided_as_formats():
    old = {"name": "n", "filename": "f", "storage_key": "k", "size_bytes": 1, "as_of": "2024-06-01",
           "partition_customers": 1, "partitions": 1, "partition_shards": [[0]], "columns": {},
           "decided": {"date": "%d.%m.%Y", "amount": "comma"}}  # fmt: skip
    assert BulkParams.from_dict(old).formats == {"date": "%d.%m.%Y", "amount": "comma"}


def test_bulk_params_keep_the_reading_options_given():
    upload = {"name": "n", "filename": "f", "storage_key": "k", "size_bytes": 1, "as_of": None,
              "partition_customers": 1}  # fmt: skip
    given = {**upload, "read_options": {"decimal": "comma", "max_bad_share": 0.2}}
    params = BulkParams.from_dict(given)
    assert params.read_options == {"decimal": "comma", "max_bad_share": 0.2}
    assert params.to_dict() == given and BulkParams.from_dict(params.to_dict()) == params
    assert BulkParams.from_dict(upload).read_options is None  # a row stored before: no options
    assert "read_options" not in BulkParams.from_dict({**upload, "read_options": {}}).to_dict()
