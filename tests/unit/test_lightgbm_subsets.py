"""LightGBM trains on any subset of the binned training rows without taking the process down.

LightGBM 4.7 aborts the whole process (glibc "malloc(): invalid size", "double free or
corruption") when it builds column-wise histograms on some subsets of a Dataset whose sparse
features were bundled: the buying rows of CDNOW's training rows are one. A worker that trains
must not die on a customer's log, so the zoo's LightGBM models build histograms row-wise. The
check runs in a child process, because an abort cannot be caught in this one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CDNOW = Path(os.environ.get("HCL_SHARED_DATA", REPO.parent / "shared" / "data")) / "cdnow" / "events.csv.gz"

CHILD = """
import sys
import numpy as np
from ml_pipeline.estimators import LightGBMTarget, TrainingRows
from ml_pipeline.eventlog import load_events
from ml_pipeline.features import FeatureBuilder
from ml_pipeline.train import build_dataset
from ml_pipeline.windows import date_to_day, plan_windows

as_of = date_to_day("1998-01-01")
log = load_events(sys.argv[1]).head(as_of)
plan = plan_windows(int(log.day[0]), as_of, n_cutoffs=12)
builder = FeatureBuilder().fit(log, until_day=as_of)
X, Y, _ = build_dataset(log, builder, plan)
y = Y["spend_total"].to_numpy()
buyers = np.flatnonzero(y > 0)
model = LightGBMTarget("tweedie").fit_on(TrainingRows(X), buyers, y[buyers], n_rounds=30)
print("trained on", len(buyers), "of", len(X), "rows:", model.best_rounds_, "rounds")
"""


@pytest.mark.skipif(not CDNOW.exists(), reason=f"the shared CDNOW log is not at {CDNOW}")
def test_training_on_the_buying_rows_of_cdnow_does_not_abort():
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(CDNOW)], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    assert "trained on" in done.stdout
