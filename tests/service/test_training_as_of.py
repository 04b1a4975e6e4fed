"""A training as-of date so far after a log's last event that the newest window, the one
validated on, holds no event is refused, saying up to when it may be."""

from __future__ import annotations

import pytest

from hcl_server.db.params import TrainingParams
from hcl_server.services.training import as_of_problem


@pytest.mark.parametrize(
    "as_of,horizons,refused",
    [
        (None, {}, False),
        ("2024-07-01", {}, False),  # the day after the last event
        ("2024-07-30", {}, False),  # 29 days without events: the 30-day window still holds the last day
        ("2024-07-31", {}, True),  # 30: the whole window is empty
        ("2099-01-01", {}, True),
        ("2024-07-10", {"churn_horizon_days": 14, "horizon_days": 60}, False),
        ("2024-07-16", {"churn_horizon_days": 14, "horizon_days": 60}, True),  # the shorter horizon decides
    ],
)
def test_an_as_of_a_whole_horizon_after_the_last_event_is_refused(as_of, horizons, refused):
    problem = as_of_problem("2024-06-30", TrainingParams.from_dict({"as_of": as_of, **horizons}))
    assert (problem is not None) == refused, problem
    if refused:
        assert "use an as_of up to 2024-" in problem and "leave it out" in problem


def test_the_api_refuses_it_before_queueing(client, org, trained):
    dataset = trained["dataset"]
    last = dataset["profile"]["last_date"]
    r = client.post(
        "/api/v1/training-jobs",
        headers={"X-API-Key": org["api_key"]},
        json={"dataset_id": dataset["id"], "as_of": "2099-01-01", "models": ["linear"]},
    )
    assert r.status_code == 422, r.get_json()
    assert f"after the log's last one ({last})" in r.get_json()["error"]["message"]
