"""Every target's models share the training rows' library forms (LightGBM's binned subsets,
XGBoost's DMatrix, the binned early-stopping rows): a model fit on shared forms is the model fit
on fresh ones, whatever was fit on them before."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_pipeline.models import TrainingRows
from ml_pipeline.models.registry import make_model


def close(a, b, rtol: float = 1e-9) -> bool:
    """Records equal in every key and text, numbers within ``rtol`` (NaN equal to NaN)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(close(a[k], b[k], rtol) for k in a)
    if isinstance(a, list | tuple):
        return (
            isinstance(b, list | tuple) and len(a) == len(b) and all(close(x, y, rtol) for x, y in zip(a, b))
        )
    if isinstance(a, int | float | np.number) and not isinstance(a, bool):
        return bool(np.isclose(float(a), float(b), rtol=rtol, atol=0.0, equal_nan=True))
    return a == b


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    X = pd.DataFrame(rng.lognormal(size=(4000, 6)), columns=[f"f{i}" for i in range(6)]).astype(np.float32)
    X.iloc[rng.random(X.shape) < 0.05] = np.nan
    churn = (rng.random(4000) < 1 / (1 + np.exp(-np.log(X["f0"].fillna(1).to_numpy())))).astype(float)
    spend = np.where(rng.random(4000) < 0.4, X["f1"].fillna(0).to_numpy() * 20, 0.0)
    return X, churn, spend


@pytest.mark.parametrize("kind", ["lightgbm", "xgboost", "random_forest", "linear"])
def test_a_model_fit_on_shared_rows_equals_one_fit_on_fresh_rows(kind, data):
    X, churn, spend = data
    index = np.sort(np.random.default_rng(0).choice(3000, 2000, replace=False))
    X_stop = X.iloc[3000:]
    shared = TrainingRows(X)
    # another target first: it builds the shared forms with its own labels
    make_model(kind, "binary").fit_on(shared, index, churn[index], eval_set=(X_stop, churn[3000:]))
    again = make_model(kind, "tweedie").fit_on(shared, index, spend[index], eval_set=(X_stop, spend[3000:]))
    fresh = make_model(kind, "tweedie").fit_on(
        TrainingRows(X), index, spend[index], eval_set=(X_stop.copy(), spend[3000:])
    )
    assert again.best_rounds_ == fresh.best_rounds_
    np.testing.assert_array_equal(again.raw(X), fresh.raw(X))
    # and on all rows, as the production refit does, after the sample's fits
    full = make_model(kind, "tweedie").fit_on(shared, np.arange(len(X)), spend, n_rounds=20)
    alone = make_model(kind, "tweedie").fit_on(TrainingRows(X), np.arange(len(X)), spend, n_rounds=20)
    np.testing.assert_array_equal(full.raw(X), alone.raw(X))


def test_candidates_in_lanes_are_the_candidates_fit_one_after_another(small_log_frame):
    """Lanes (training.lanes) change when a candidate is fit, not what: the same scores, rounds
    and winners as every candidate fit in turn on one thread."""
    from ml_pipeline.data.eventlog import from_frame
    from ml_pipeline.training.trainer import TrainConfig, train

    log = from_frame(small_log_frame)
    lanes = train(log, TrainConfig(n_cutoffs=4, candidate_workers=2))
    in_turn = train(log, TrainConfig(n_cutoffs=4, candidate_workers=1, num_threads=1))
    for name, r in in_turn.targets.items():
        assert lanes.targets[name].selected == r.selected
        # Within 1e-9: the final fit on every row runs on the process's threads in the lanes run
        # and on one here, and a multi-threaded sum may differ in its last bit (seen on CI's 2 cores).
        assert close(lanes.targets[name].metrics, r.metrics), name
        assert len(r.metrics["candidates"]) == 4


def test_lanes_stay_within_the_processs_threads():
    """A process given one thread (a Celery child on a 2-core machine with 2 workers) fits its
    candidates one after another; given two, in two lanes of one thread."""
    import subprocess
    import sys
    from pathlib import Path

    from ml_pipeline.training.lanes import lane_workers

    assert lane_workers(0, 3, budget=1) == 1 and lane_workers(0, 3, budget=2) == 2
    assert lane_workers(0, 1, budget=2) == 1 and lane_workers(3, 3, budget=1) == 3
    child = (
        "import lightgbm\nfrom ml_pipeline.threads import limit_native_threads\n"
        "from ml_pipeline.training.lanes import thread_budget\n"
        "limit_native_threads(1); print(thread_budget(0), thread_budget(4))"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", child], cwd=root, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["1", "4"]
