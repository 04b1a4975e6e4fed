"""The short-history fallback: BG/NBD + Gamma-Gamma fitted on the whole history, as a predictor
of every target, reading the same feature matrix as the zoo's models.

Used when a log is too short for any rolling-window plan (:mod:`ml_pipeline.training.fallback`).
The models and their sources are in :mod:`ml_pipeline.models.bgnbd` (Fader, Hardie & Lee 2005,
BG/NBD; Fader, Hardie & Lee 2005, "RFM and CLV", Gamma-Gamma). From a customer's features at the
as-of date, in days:

- repeat purchase days ``x = frequency_all - 1``; age ``T = days_since_first_purchase`` (tenure_days
  for a customer who never bought); ``t_x = T - recency_days``;
- average spend per purchase day ``monetary_all / frequency_all``. Fader et al. average the *repeat*
  purchases only; the features do not keep the first day's spend apart, so every purchase day counts.

Targets, one predictor each (they share the fitted parameters):

- ``churn``: P(no purchase in the churn horizon) = 1 - P(at least one purchase), which is the
  churn label itself (no purchase in the horizon). P(alive) is not used: a customer alive but
  slow also makes no purchase in a 30-day window, and the label counts them as churned.
- ``spend_total``: expected purchase days in the horizon x Gamma-Gamma's expected spend per day.
- ``spend_<category>``: spend_total x the customer's own share of lifetime spend in the category
  (``cat_<slug>_share``), or the log's shares for a customer with no spend; so the categories sum
  to spend_total.

Contributions (the reasons behind a churn risk) are exact Shapley values of the churn log-odds
(spend: of the amount) over the model's inputs (purchase days, days since the last purchase, the
span from the first to the last purchase day and, for spend, the spend per day), against the
median fitted customer; credited to frequency_all, recency_days, days_since_first_purchase and
monetary_all, whose reason groups phrase them.
"""

from __future__ import annotations

from itertools import combinations
from math import factorial
from pathlib import Path

import numpy as np

from ml_pipeline.errors import PipelineError
from ml_pipeline.models.base import Predictor, feature_names
from ml_pipeline.models.bgnbd import (
    bgnbd_quantities,
    fit_bgnbd,
    fit_gamma_gamma,
    gamma_gamma_average,
    no_purchase_probability,
    probability_alive,
)

# The features the Shapley players are credited to, in order: purchase days, days since the last
# purchase, the span from the first to the last purchase day (T - recency; the tenure group) and
# spend (spend targets only).
INPUTS = ("frequency_all", "recency_days", "days_since_first_purchase", "monetary_all")


class BTYDFallback(Predictor):
    """BG/NBD + Gamma-Gamma as the predictor of one target (see the module docstring).

    ``target``: "churn", "spend_total" or "spend_<category>"; ``horizon_days``: that target's
    horizon; ``category``: the category's feature slug for a category target; ``categories``:
    every category slug of the bundle (their shares are renormalized to sum to 1).
    """

    kind = "btyd_fallback"
    no_gain = "BG/NBD + Gamma-Gamma is fitted on purchase counts and timing: it learns no gain per feature"

    def __init__(
        self,
        target: str = "churn",
        horizon_days: int = 30,
        category: str | None = None,
        categories: tuple[str, ...] = (),
    ):
        self.target = target
        self.horizon_days = horizon_days
        self.category = category
        self.categories = tuple(categories)

    @property
    def description(self) -> str:
        spend = "Gamma-Gamma" if getattr(self, "gamma_gamma_", None) else "the customer's average spend"
        return f"BG/NBD + {spend} fitted on the whole history (short-history fallback)"

    def fit(self, X, y: np.ndarray | None = None) -> BTYDFallback:
        """Fit BG/NBD and Gamma-Gamma on the customers of ``X``, the features at the as-of date
        (rows = customers). ``y`` is ignored: the models learn from the history alone.

        Gamma-Gamma needs q > 1 and at least 2 customers with repeat spend; without them, spend
        per purchase day is the customer's own average (the log's for a customer without).
        Raises PipelineError when BG/NBD does not converge."""
        names = feature_names(X)
        if names is not None:
            self.feature_names_in_ = names
        n, recency, T, avg = self._inputs(X)
        x, t_x = self._summary(n, recency, T)
        self.bgnbd_ = fit_bgnbd(x, t_x, T)
        try:
            gg = fit_gamma_gamma(x, avg)
            self.gamma_gamma_ = gg if gg["q"] > 1 and all(np.isfinite(list(gg.values()))) else None
        except PipelineError:
            self.gamma_gamma_ = None
        spend = np.maximum(avg * n, 0.0)
        self.average_spend_ = float(spend.sum() / max(n.sum(), 1.0))
        self.reference_ = [float(np.median(v)) for v in self._players(n, recency, T, avg)]
        self.population_shares_ = self._population_shares(X, spend)
        return self

    def share_with(self, target: str, horizon_days: int, category: str | None = None) -> BTYDFallback:
        """A predictor of another target sharing this one's fitted parameters."""
        other = BTYDFallback(target, horizon_days, category, self.categories)
        other.__dict__.update({k: v for k, v in self.__dict__.items() if k.endswith("_")})
        return other

    @property
    def contribution_unit(self) -> str:
        return "log-odds" if self.target == "churn" else "spend amount (before the category share)"

    def predict(self, X) -> np.ndarray:
        """(rows,) churn probability or spend amount in the horizon."""
        n, recency, T, avg = self._inputs(X)
        out = self._score(n, recency, T, avg)
        if self.target == "churn":
            return out
        if self.category is None:
            return out
        return out * self._shares(X)[:, self.categories.index(self.category)]

    def contributions(self, X, method: str = "exact", project: np.ndarray | None = None) -> np.ndarray:
        """(rows, features) exact Shapley values of :meth:`player_score` (the churn log-odds;
        spend: the amount before the category share) over the players of :meth:`_players`, each
        credited to its feature of :data:`INPUTS`, against the median fitted customer. ``method``
        is accepted for the interface (there is only one)."""
        values = self._players(*self._inputs(X))
        players = 3 if self.target == "churn" else 4
        ref = [np.full_like(values[0], r) for r in self.reference_]

        def score(subset: tuple[int, ...]) -> np.ndarray:
            return self.player_score(*(values[i] if i in subset else ref[i] for i in range(4)))

        cache = {s: score(s) for k in range(players + 1) for s in combinations(range(players), k)}
        out = np.zeros((len(values[0]), len(self._names(X))))
        for i in range(players):
            others = [j for j in range(players) if j != i]
            phi = np.zeros(len(values[0]))
            for k in range(players):
                w = factorial(k) * factorial(players - k - 1) / factorial(players)
                for s in combinations(others, k):
                    phi += w * (cache[tuple(sorted((*s, i)))] - cache[s])
            out[:, self._position(X, INPUTS[i])] = phi
        return out if project is None else out @ project

    def player_score(self, n, recency, span, avg) -> np.ndarray:
        """What the contributions explain, from the players: the churn log-odds, or spend_total."""
        s = self._score(n, recency, span + recency, avg)
        if self.target != "churn":
            return s
        s = np.clip(s, 1e-6, 1 - 1e-6)
        return np.log(s / (1 - s))

    @staticmethod
    def _players(n, recency, T, avg) -> list[np.ndarray]:
        """The Shapley players: purchase days, recency, first-to-last purchase span, spend per day.

        Recency and span rather than recency and T: for a customer with one purchase day the
        model's risk is all in the days since that purchase, and should be said so."""
        return [n, recency, np.maximum(T - recency, 0.0), avg]

    def save(self, folder: Path, name: str) -> dict:
        """The parameters and learned numbers; ``folder`` gets no file."""
        return {
            "target": self.target,
            "horizon_days": self.horizon_days,
            "category": self.category,
            "categories": list(self.categories),
            "bgnbd": self.bgnbd_,
            "gamma_gamma": self.gamma_gamma_,
            "average_spend": self.average_spend_,
            "reference": self.reference_,
            "population_shares": self.population_shares_,
        }

    @classmethod
    def load(cls, entry: dict, folder: Path | None = None) -> BTYDFallback:
        model = cls(entry["target"], entry["horizon_days"], entry["category"], tuple(entry["categories"]))
        model.bgnbd_, model.gamma_gamma_ = entry["bgnbd"], entry["gamma_gamma"]
        model.average_spend_, model.reference_ = entry["average_spend"], entry["reference"]
        model.population_shares_ = entry["population_shares"]
        return model

    # -- inputs --------------------------------------------------------------------------------

    def _names(self, X) -> list[str]:
        names = feature_names(X)
        return list(names if names is not None else getattr(self, "feature_names_in_", []))

    def _position(self, X, name: str) -> int:
        names = self._names(X)
        if name not in names:
            raise PipelineError(f"{self.description}: feature '{name}' is not among the input's features")
        return names.index(name)

    def _column(self, X, name: str) -> np.ndarray:
        if hasattr(X, "columns"):
            return X[name].to_numpy(dtype=float)
        return np.asarray(X)[:, self._position(X, name)].astype(float)

    def _inputs(self, X) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(purchase days, recency_days, T, average spend per purchase day) per row."""
        n = np.nan_to_num(self._column(X, "frequency_all"))
        recency = np.nan_to_num(self._column(X, "recency_days"))
        first = self._column(X, "days_since_first_purchase")
        T = np.where(np.isfinite(first), first, np.nan_to_num(self._column(X, "tenure_days")))
        with np.errstate(all="ignore"):
            avg = np.where(n > 0, np.nan_to_num(self._column(X, "monetary_all")) / n, 0.0)
        return n, recency, T, np.maximum(avg, 0.0)

    @staticmethod
    def _summary(n: np.ndarray, recency: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """BG/NBD's (x, t_x): repeat purchase days and the age at the last purchase day."""
        x = np.maximum(n - 1, 0.0)
        return x, np.where(x > 0, np.clip(T - recency, 0.0, T), 0.0)

    def _score(self, n, recency, T, avg) -> np.ndarray:
        """Churn probability, or spend_total in the horizon, from the four inputs."""
        x, t_x = self._summary(n, recency, T)
        if self.target == "churn":
            alive = probability_alive(self.bgnbd_, x, t_x, T)
            return no_purchase_probability(self.bgnbd_, x, T, alive, self.horizon_days)
        _, purchases, _ = bgnbd_quantities(self.bgnbd_, x, t_x, T, self.horizon_days)
        # Features count purchase days: at most one a day in the horizon, whatever the fit says.
        purchases = np.clip(purchases, 0.0, self.horizon_days)
        if self.gamma_gamma_:
            own = (x > 0) & (avg > 0)
            per_day = gamma_gamma_average(self.gamma_gamma_, np.where(own, x, 0.0), np.where(own, avg, 1.0))
        else:
            per_day = np.where(n > 0, avg, self.average_spend_)
        return np.maximum(np.nan_to_num(purchases * per_day), 0.0)

    def _shares(self, X) -> np.ndarray:
        """(rows, categories) the customer's spend shares, summing to 1; the log's when none."""
        own = np.column_stack([np.maximum(self._column(X, f"cat_{c}_share"), 0.0) for c in self.categories])
        total = own.sum(axis=1, keepdims=True)
        fallback = np.asarray(self.population_shares_, dtype=float)[None, :]
        return np.where(total > 0, own / np.where(total > 0, total, 1.0), fallback)

    def _population_shares(self, X, spend: np.ndarray) -> list[float]:
        """The log's category shares: customers' shares weighted by their lifetime spend."""
        if not self.categories:
            return []
        own = np.column_stack([np.maximum(self._column(X, f"cat_{c}_share"), 0.0) for c in self.categories])
        pooled = (own * spend[:, None]).sum(axis=0)
        if pooled.sum() <= 0:
            return [1.0 / len(self.categories)] * len(self.categories)
        return (pooled / pooled.sum()).tolist()
