#!/usr/bin/env bash
# Regenerates docs/accuracy.md: the rolling backtest (`evaluate --cutoffs 3`) on both shared logs,
# and the in-period churn ceiling (scripts/churn_ceiling.py) at each log's latest cutoff.
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

    python -m ml_pipeline evaluate --events FILE --cutoffs 3 --horizon-days 30 --markdown

for each log below: a rolling backtest at 3 cutoffs, 30 days apart, the latest leaving the
log's last 30 days after it. At each cutoff `evaluate` trains on the events before it only (the
same training as `train`: rolling cutoffs, time-based validation, refit; features, model
selection and the BG/NBD fit see nothing on or after the cutoff), and scores the 30 days after
it. Each log's section lists every cutoff, the mean, min, max and std of each metric, and the
targets per cutoff. All three predictors see the same customers: everyone with an event before the
cut. Churn = no purchase in the 30 days; spend = net spend in the 30 days.

Targets (issue 14, per log and cutoff): churn ROC-AUC above BG/NBD's and a lower Brier score
(the +0.03 AUC margin of issue 4 remains the aim where the in-period ceiling allows it); spend Gini ≥
BG/NBD+GG + 0.03 and a lower MAE; predicted/actual total within ±10 %; per-category Gini ≥
naive + 0.05. Each log's section has these checks per cutoff; **not all are met yet** (see the
"against the targets" tables). The prose below was written for the earlier single cutoff
(CDNOW 1998-01-01, grocery 2017-12-02); the tables are regenerated. Our BG/NBD + GG reproduces the reference figures of issue 4
(CDNOW: AUC 0.804, Brier 0.051; grocery: AUC 0.872 vs 0.870, Brier 0.100).

"Ours" is, per target, the best of the model zoo (LightGBM, XGBoost, random forest, linear) on
the time-based validation inside the training data, named in each section's first line.
Our churn model's level is set on the latest labelled 30-day window (one shift of the log-odds,
`LightGBMTarget.calibrate`), because a model pooled over a year of cutoffs otherwise predicts
the year's average churn rate for a customer base that is ageing. The reliability table shows
how far the predicted probabilities are from the observed rates.

## What stands in the way of the unmet targets

**Churn ROC-AUC +0.03 over BG/NBD.** Our models stop at about +0.012 to +0.015 on both logs.
Every model type reaches the same ranking (on CDNOW LightGBM 0.818, XGBoost 0.818, linear
0.819; on grocery 0.882, 0.882, 0.879). So do an average of the three (0.819 / 0.883) and an
average of the three with BG/NBD (0.818 / 0.884). BG/NBD's outputs as features, 6 or 24 cutoffs
instead of 12, weekly cutoffs, time-decay weights, other learning rates, leaf sizes and tree
depths moved it by 0.002 at most. A per-customer survival feature (the share of the customer's
own past gaps longer than the current one that ended within 30 more days) added nothing either,
even fitted on the scored window itself.

The table "churn ROC-AUC fitted on the 30 days after …" under each log measures the ceiling
(`scripts/churn_ceiling.py`). It fits LightGBM on our features *and on the very labels being
scored*, by 5-fold cross-validation stopped early on the scored fold. That is optimistic: no
drift to bridge, and a peek at the answers. It still stays below BG/NBD + 0.03 on both logs, and
below our model trained on the past alone. The customer's raw purchase history did not raise it
either. Adding 17 columns (purchase days in each of the last 12 30-day windows, and the ages of
the last 5 purchase days) moved that in-period fit by 0.001 at most: CDNOW 0.817–0.818, grocery
0.874–0.877. With purchase histories like these, the +0.03 target is out of reach on these two
logs, and no model trained on the past can reach it.

**CDNOW spend: MAE below BG/NBD+GG's and the total within ±10 %.** January 1998, the scored
month, had 1,537 buyers, against 1,750–2,030 in each month from May to December 1997. No earlier
January is in the log to learn that drop from. Models set on recent months therefore over-predict
(ours 1.13; BG/NBD+GG, a stationary model, 1.09).

The MAE gap is not only about level. Scaled to the true total, our spend predictions have an MAE
of 5.08, against BG/NBD+GG's 4.76. BG/NBD puts its mass more sharply on a few sure buyers, and a
mean-predicting model pays for every cent it gives to the 94 % who buy nothing. Two alternatives
did not close the gap:

- A hurdle model: P(buy) times a LightGBM gamma or Tweedie model of spend given a purchase, fitted
  on buying rows only. Its shape is better (MAE 4.84 at the true total), but its total rose to
  1.25–1.33.
- Other Tweedie powers. With p = 1.8, CDNOW gives MAE 5.17 and total 0.91, but grocery's MAE rises
  to BG/NBD's and its smallest category gain falls to 0.

The session notes of issue 4 hold the commands.
HEAD
  for log in cdnow/events.csv.gz completejourney_8451/events.csv.gz; do
    echo
    echo "## $log: rolling backtest, 3 cutoffs"
    echo
    "$PY" -m ml_pipeline evaluate --events "$DATA/$log" --cutoffs 3 --horizon-days 30 --markdown --quiet \
      --json "$tmp.json" 2>/dev/null
    # the in-period ceiling at the latest cutoff
    latest=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))[-1]["as_of"])' "$tmp.json")
    echo
    "$PY" scripts/churn_ceiling.py --events "$DATA/$log" --as-of "$latest" --horizon-days 30 --markdown
  done
} > "$tmp"
rm -f "$tmp.json"
mv "$tmp" "$out"
echo "wrote $out"
