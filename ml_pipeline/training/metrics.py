"""Validation metrics of SPEC §2: churn (ROC-AUC, PR-AUC, log loss, Brier) and spend (MAE, RMSE,
R², normalized Gini, Spearman, predicted/actual total)."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

# The metric that picks between model and baseline, and whether lower is better.
SELECTION = {"churn": ("log_loss", True), "spend": ("rmse", True)}


def _gini(y: np.ndarray, p: np.ndarray) -> float:
    order = np.lexsort((np.arange(len(p)), -p))
    cum = np.cumsum(y[order]) / y.sum()
    n = len(y)
    return float(cum.sum() / n - (n + 1) / (2 * n))


def normalized_gini(y: np.ndarray, p: np.ndarray) -> float:
    """Gini of the predictions' ranking divided by the Gini of the perfect ranking (1 = perfect)."""
    y = np.asarray(y, dtype=float)
    if len(y) < 2 or y.sum() <= 0:
        return float("nan")
    best = _gini(y, y)
    return _gini(y, np.asarray(p, dtype=float)) / best if best > 0 else float("nan")


def churn_metrics(y: np.ndarray, p: np.ndarray) -> dict:
    """Classification metrics; ranking metrics are NaN when the labels have one class."""
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    both = 0 < y.sum() < len(y)
    return {
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "observed_rate": float(y.mean()),
        "mean_predicted": float(p.mean()),
        "n": int(len(y)),
    }


def spend_metrics(y: np.ndarray, p: np.ndarray) -> dict:
    """Regression metrics for a zero-inflated, heavy-tailed amount."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    err = p - y
    var = float(((y - y.mean()) ** 2).sum())
    rho = spearmanr(y, p).statistic if len(y) > 1 and np.ptp(y) > 0 and np.ptp(p) > 0 else float("nan")
    actual = float(y.sum())
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "r2": float(1 - (err**2).sum() / var) if var > 0 else float("nan"),
        "gini": normalized_gini(y, p),
        "spearman": float(rho),
        "predicted_total": float(p.sum()),
        "actual_total": actual,
        "total_ratio": float(p.sum() / actual) if actual > 0 else float("nan"),
        "n": int(len(y)),
    }


def target_kind(target: str) -> str:
    """'churn' or 'spend'."""
    return "churn" if target == "churn" else "spend"


def score(target: str, y: np.ndarray, p: np.ndarray) -> dict:
    """Metrics appropriate to the target."""
    return churn_metrics(y, p) if target_kind(target) == "churn" else spend_metrics(y, p)


def better(target: str, a: dict, b: dict) -> bool:
    """True when metrics ``a`` beat ``b`` on the target's selection metric."""
    name, lower = SELECTION[target_kind(target)]
    x, y = a.get(name, float("nan")), b.get(name, float("nan"))
    if np.isnan(x):
        return False
    if np.isnan(y):
        return True
    return x < y if lower else x > y


def reliability_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict]:
    """Customers grouped by predicted churn probability (deciles of the predictions): how many,
    the mean prediction and the observed rate per group. Calibrated predictions have the two close."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    if len(p) == 0:
        return []
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)))
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))
    out = []
    for k in range(max(len(edges) - 1, 1)):
        sel = idx == k
        if sel.any():
            out.append(
                {
                    "lo": float(p[sel].min()),
                    "hi": float(p[sel].max()),
                    "n": int(sel.sum()),
                    "mean_predicted": float(p[sel].mean()),
                    "observed_rate": float(y[sel].mean()),
                }
            )
    return out
