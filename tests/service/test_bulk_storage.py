"""A partition's predictions stored in bulk are the rows the ORM insert stored (SQLite)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from prediction_store import SPEND, assert_same_rows, hostile_frame

from hcl_server.services.bulk_results import reasons_json, spend_json


@pytest.fixture
def org_id(app, make_org):
    return make_org("Storage")["organization_id"]


def test_bulk_store_keeps_every_field_of_the_orm_insert(app, org_id):
    from hcl_server.extensions import db

    with app.app_context():
        assert_same_rows(db, org_id, hostile_frame())


def test_an_empty_partition_stores_nothing(app, org_id):
    from hcl_server.extensions import db

    with app.app_context():
        assert_same_rows(db, org_id, hostile_frame().iloc[:0])


def test_json_texts_are_what_json_dumps_writes():
    frame = hostile_frame(5000)
    spends = frame[list(SPEND)].rename(columns=SPEND).round(4)
    spends.iloc[0, 0], spends.iloc[1, 1], spends.iloc[2, 2] = np.nan, np.inf, -np.inf
    expected = [json.dumps(d) for d in spends.to_dict("records")]
    assert spend_json(spends) == expected
    assert spend_json(spends.iloc[:, :0]) == ["{}"] * len(spends)
    reasons = pd.Series(list(frame["reasons"]) + ["", "a; b", "; x; ", "\\; \x7f"])
    assert reasons_json(reasons) == [json.dumps(r.split("; ") if r else []) for r in reasons]


def test_the_job_summary_sums_categories_over_partitions_or_gives_none_for_a_partial_sum():
    from types import SimpleNamespace

    from hcl_server.services.bulk_results import job_summary, partition_summary

    frame = pd.DataFrame(
        {
            "churn_probability": [0.2, 0.6],
            "risk_segment": ["Low", "High"],
            "spend_total": [10.0, 5.0],
            "spend_GROCERY": [7.5, 1.25],
            "spend_other": [2.5, 3.75],
        }
    )
    spend = {"spend_GROCERY": "GROCERY", "spend_other": "other"}
    part = SimpleNamespace(summary=partition_summary(frame, [], spend))
    both = job_summary([part, part])
    assert both["predicted_spend_by_category"] == {"GROCERY": 17.5, "other": 12.5}
    assert both["predicted_spend_total"] == 30.0
    # a partition stored before the categories were summed: no total that is only a part
    old = SimpleNamespace(summary={k: v for k, v in part.summary.items() if k != "spend_by_category"})
    assert job_summary([part, old])["predicted_spend_by_category"] is None
