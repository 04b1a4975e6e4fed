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
naive + 0.05. Each log's section has these checks per cutoff, met or **not met**, and under them
what the numbers say about a missed level check (how the actual total moved against the 30 days
before the cutoff; the mean predicted churn against the observed rate). The section below says
why the others are not met and what was tried. Our BG/NBD + GG reproduces the reference figures
of issue 4 (CDNOW: AUC 0.804, Brier 0.051; grocery: AUC 0.872 vs 0.870, Brier 0.100).

"Ours" is, per target, the best of the model zoo (LightGBM, XGBoost, random forest, linear) on
the time-based validation inside the training data, named in each section's first table. It is
scored as `predict` delivers it: churn within [0, 1], spend not below 0, and the categories (with
`other`) reconciled with the total (`ml_pipeline/models/reconcile.py`, the "middle" method,
chosen in docs/benchmarks.md). Our churn model's level is set on the latest labelled 30-day
window (one shift of the log-odds, `LinkedModel.calibrate` in `ml_pipeline/models/base.py`),
because a model pooled over a year of cutoffs otherwise predicts the year's average churn rate
for a customer base that is ageing. The reliability tables show how far the predicted
probabilities are from the observed rates.

## What stands in the way of the unmet targets

At the run of 2026-11-30 CDNOW met 7 of 15 checks and grocery 30 of 33. Not met: on CDNOW the
total at all three cutoffs, the spend Gini margin at all three, the MAE and the Brier score at
1998-04-02; on grocery the spend Gini margin at two cutoffs and one category's gain at one.

**The total within ±10 % on CDNOW.** CDNOW's monthly total swings far more than ±10 % from one
30-day window to the next, in both directions: −33 %, −3 % and +14 % in the three scored windows,
and within ±10 % of the window before in only 4 of 16 windows of the log (`scripts/spend_level.py`
prints them). Grocery's stays within ±6 % every time, and there our totals are 2.6–6.2 % below actual. Nothing
in CDNOW's past foretells its swings: BG/NBD+GG misses too (1.19, 1.18, 1.00), and so does the
naive last-month total (1.50, 1.03, 0.88). We tried four level corrections learned from the past
only, each a factor on every spend target before the categories are reconciled:

- `latest`: the latest labelled window's actual/predicted total, like the churn shift;
- `mean3` and `mean6`: the geometric mean of that ratio over the latest 3 or 6 windows;
- `validation`: the selection model's out-of-sample ratio on the validation window.

`scripts/spend_level.py --cutoffs 5` ran them on 5 cutoffs per log (grocery's run stopped after 4
for time). Predicted/actual total, mean over the cutoffs of |log ratio|, and mean spend MAE:

| correction | CDNOW ratio at 5 cutoffs (02-01 … 06-01) | CDNOW mean abs log ratio | CDNOW MAE | grocery ratio at 4 cutoffs (08-05 … 11-03) | grocery mean abs log ratio | grocery MAE |
|---|---|---|---|---|---|---|
| none (the default) | 0.82, 0.81, 1.38, 1.17, 0.79 | 0.223 | 4.867 | 0.99, 1.02, 0.97, 0.94 | 0.030 | 68.41 |
| latest | 0.79, 0.80, 1.58, 0.96, 0.80 | 0.235 | 4.871 | 0.99, 1.03, 0.96, 0.95 | 0.031 | 68.45 |
| mean3 | 0.92, 0.75, 1.32, 1.16, 0.86 | 0.190 | 4.882 | 1.01, 1.01, 0.97, 0.94 | 0.030 | 68.43 |
| mean6 | 0.85, 0.80, 1.40, 1.17, 0.83 | 0.214 | 4.893 | 1.03, 1.03, 0.98, 0.94 | 0.034 | 68.58 |
| validation | 0.65, 0.74, 1.78, 0.95, 0.63 | 0.365 | 4.816 | 0.89, 1.00, 0.95, 0.96 | 0.054 | 68.53 |

None brings CDNOW within ±10 % at more than one cutoff of five. The best on the level, `mean3`,
brings CDNOW's mean error from 0.223 to 0.190 but raises the MAE on both logs, and the issue asks
for no worse MAE, so the default stays uncorrected. (`validation` has CDNOW's lowest MAE only
because it predicts far too little: on a log where 94 % buy nothing, the MAE rewards predicting
less.) The Gini does not move: a factor does not
change the ranking. Seasonal features (the same window a year earlier) could not be learned from
these logs. Grocery spans one year, so no training cutoff has a year before it. CDNOW's only
year-earlier windows (January–June 1997) are its acquisition months, when every customer made a
first purchase.

**Churn ROC-AUC +0.03 over BG/NBD.** In the backtest our margin is +0.006 to +0.011 on CDNOW and
+0.011 to +0.015 on grocery. At issue 4's single cutoffs (CDNOW 1998-01-01, grocery 2017-12-02)
every model type reached the same ranking (on CDNOW LightGBM 0.818, XGBoost 0.818, linear 0.819;
on grocery 0.882, 0.882, 0.879). So did an average of the three (0.819 / 0.883) and an average of
the three with BG/NBD (0.818 / 0.884). BG/NBD's outputs as features, 6 or 24 cutoffs instead of 12,
weekly cutoffs, time-decay weights, other learning rates, leaf sizes and tree depths moved it by
0.002 at most. A per-customer survival feature (the share of the customer's own past gaps longer
than the current one that ended within 30 more days) added nothing either, even fitted on the
scored window itself.

The table "churn ROC-AUC fitted on the 30 days after …" under each log measures the ceiling at
its latest cutoff (`scripts/churn_ceiling.py`). It fits LightGBM on our features *and on the very
labels being scored*, by 5-fold cross-validation stopped early on the scored fold. That is
optimistic: no drift to bridge, and a peek at the answers. It still stays below BG/NBD + 0.03 on
both logs (CDNOW 0.848–0.852 against 0.872; grocery 0.873–0.880 against 0.905), and below our
model trained on the past alone (0.853 and 0.886). At issue 4's cutoffs the customer's raw
purchase history did not raise it either. Adding 17 columns (purchase days in each of the last 12
30-day windows, and the ages of the last 5 purchase days) moved that in-period fit by 0.001 at
most. With purchase histories like these, the +0.03 target is out of reach on these two logs, and
no model trained on the past can reach it.

**Churn Brier on CDNOW at 1998-04-02** (+0.0003 over BG/NBD's). This is a level miss: our mean
predicted churn was 0.914 against 0.937 observed. The churn shift is set on the latest labelled
window, the 30 days from 1998-03-03, when 1,968 customers bought (the most in five months). April
had 1,475 buyers, the fewest so far. At the other two cutoffs our Brier score is below BG/NBD's.

**Spend Gini +0.03 over BG/NBD+GG** (CDNOW +0.013 to +0.017; grocery +0.025, +0.026 and +0.035),
and **CDNOW's MAE at 1998-04-02**. The MAE miss follows the level (predicted/actual 1.38 that
month). At issue 4's cutoff the gap was not only about level: scaled to the true total, our CDNOW
spend predictions had an MAE of 5.08 against BG/NBD+GG's 4.76. BG/NBD puts its mass more sharply
on a few sure buyers, and a mean-predicting model pays for every cent it gives to the 94 % who buy
nothing. Two alternatives did not close the gap:

- A hurdle model: P(buy) times a LightGBM gamma or Tweedie model of spend given a purchase, fitted
  on buying rows only. Its shape was better (MAE 4.84 at the true total), but its total rose to
  1.25–1.33.
- Other Tweedie powers. With p = 1.8, CDNOW gave MAE 5.17 and total 0.91, but grocery's MAE rose
  to BG/NBD's and its smallest category gain fell to 0.

The session notes of issue 4 hold the commands.

**Grocery's GROCERY category at 2017-10-04** (+0.044 over naive; +0.055 and +0.059 at the next
two cutoffs). Most customers buy groceries on every visit, so last month's grocery spend already
ranks them well (naive Gini 0.757–0.767), which leaves the model the least room of any category.
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
