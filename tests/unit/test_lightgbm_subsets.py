"""LightGBM trains on any subset of the binned training rows without taking the process down.

LightGBM 4.7 aborts the whole process (glibc "malloc(): invalid size", "double free or
corruption") when it builds column-wise histograms on some subsets of a Dataset whose sparse
features were bundled: the buying rows of a purchase-only log's training rows, as in CDNOW, are
one. A worker that trains must not die on a customer's log, so the zoo's LightGBM models build
histograms row-wise. The check runs in a child process, because an abort cannot be caught here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import numpy as np
from ml_pipeline.models import LightGBMModel, TrainingRows
from ml_pipeline.data.eventlog import from_frame
from ml_pipeline.features import FeatureBuilder
from ml_pipeline.data.synthetic import generate_events
from ml_pipeline.training.trainer import build_dataset
from ml_pipeline.training.windows import plan_windows

frame = generate_events(n_customers=20_000, n_events=60_000, days=540, seed=0)
log = from_frame(frame[frame.event_type == "purchase"].drop(columns=["category"]))
as_of = int(log.day[-1]) + 1
plan = plan_windows(int(log.day[0]), as_of, n_cutoffs=12)
builder = FeatureBuilder().fit(log, until_day=as_of)
X, Y, _ = build_dataset(log, builder, plan)
y = Y["spend_total"].to_numpy()
buyers = np.flatnonzero(y > 0)
model = LightGBMModel("tweedie").fit_on(TrainingRows(X), buyers, y[buyers], n_rounds=30)
print("trained on", len(buyers), "of", len(X), "rows:", model.best_rounds_, "rounds")
"""


def test_training_on_the_buying_rows_of_a_purchase_only_log_does_not_abort():
    done = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    assert "trained on" in done.stdout
