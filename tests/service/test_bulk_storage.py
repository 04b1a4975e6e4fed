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
