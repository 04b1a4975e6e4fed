#!/usr/bin/env bash
# Regenerates docs/accuracy.md: `evaluate` on both shared logs at the cutoffs the docs state.
# Usage: scripts/accuracy.sh [PYTHON]   (make accuracy)
set -euo pipefail
PY=${1:-.venv/bin/python}
DATA=../shared/data
out=docs/accuracy.md
tmp=$(mktemp)
{
  cat <<'HEAD'
# Accuracy

Out-of-time comparison of our models with the naive baselines and with BG/NBD + Gamma-Gamma
(the `lifetimes` package), produced by `make accuracy` (`scripts/accuracy.sh`), which runs

    python -m ml_pipeline evaluate --events FILE --as-of DATE --horizon-days 30 --markdown

for each log below. `evaluate` cuts the log at DATE, trains on the events before it only (the
same training as `train`: rolling cutoffs, time-based validation, refit), and scores the 30
days after it. All three predictors see the same customers: everyone with an event before the
cut. Churn = no purchase in the 30 days; spend = net spend in the 30 days.

Targets (issue 4): churn ROC-AUC ≥ BG/NBD + 0.03 and a lower Brier score; spend Gini ≥
BG/NBD+GG + 0.03 and a lower MAE; predicted/actual total within ±10 %; per-category Gini ≥
naive + 0.05. Each log's section ends with these checks; **not all are met yet** (see the
"against the targets" tables). Our BG/NBD + GG reproduces the reference figures of issue 4
(CDNOW: AUC 0.804, Brier 0.051; grocery: AUC 0.872 vs 0.870, Brier 0.100).

"Ours" is, per target, the best of the model zoo (LightGBM, XGBoost, random forest, linear) on
the time-based validation inside the training data, named in each section's first line.
Our churn model's level is set on the latest labelled 30-day window (one shift of the log-odds,
`LightGBMTarget.calibrate`), because a model pooled over a year of cutoffs otherwise predicts
the year's average churn rate for a customer base that is ageing. The reliability table shows
how far the predicted probabilities are from the observed rates.

Why churn ROC-AUC stops at about +0.012 over BG/NBD on both logs: every model type reaches the
same ranking (on CDNOW LightGBM 0.818, XGBoost 0.818, linear 0.819; on grocery 0.882, 0.882,
0.879), and so does an average of the three (0.819 / 0.883) or of the three with BG/NBD
(0.818 / 0.884). BG/NBD's outputs as features, 6 or 24 cutoffs instead of 12, other learning
rates, leaf sizes and tree depths, did not move it by more than 0.002 either (measured with this
command, session notes of issue 4).
HEAD
  for spec in "cdnow/events.csv.gz 1998-01-01" "completejourney_8451/events.csv.gz 2017-12-02"; do
    set -- $spec
    echo
    echo "## $1, as of $2"
    echo
    "$PY" -m ml_pipeline evaluate --events "$DATA/$1" --as-of "$2" --horizon-days 30 --markdown --quiet 2>/dev/null
  done
} > "$tmp"
mv "$tmp" "$out"
echo "wrote $out"
