"""BG/NBD and Gamma-Gamma: fitting their parameters (by the ``lifetimes`` package) and the
per-customer quantities they give once fitted (plain numpy / scipy, lifetimes' formulas).

- BG/NBD: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to
  the Pareto/NBD Model", Marketing Science 24(2). A customer buys as a Poisson process whose rate
  is gamma(r, alpha) across customers, and after each purchase drops out with a probability that
  is beta(a, b) across customers.
- Gamma-Gamma: Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer Base
  Analysis", Journal of Marketing Research 42(4). A customer's spend per transaction is gamma
  around a customer mean that is itself gamma(q, v) distributed, with shape p; independent of
  the purchase process.

Inputs are the usual summary per customer, in days: ``frequency`` = repeat purchase days (purchase
days - 1), ``recency`` = days between the first and last purchase day, ``T`` = days between the
first purchase day and the as-of date, ``monetary`` = average spend per purchase day.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pandas as pd
from scipy.special import expit, hyp2f1

from ml_pipeline.errors import PipelineError

# lifetimes' fit attempts, in order: (penalizer, tolerance). lifetimes raises "did not converge"
# whenever scipy's BFGS reports failure, including "precision loss": the line search cannot improve
# on a point whose gradient is already ~1e-7, which on a short log (a -> 0: nobody has dropped out
# yet) depends on the machine's floating-point path. A tolerance of 1e-6 accepts that point; only
# then does a penalizer (lifetimes' advice) pull the parameters away from the likelihood's optimum.
_ATTEMPTS = ((None, 1e-7), (None, 1e-6), (0.001, 1e-7), (0.01, 1e-7), (0.01, 1e-6))


def _fit(make, *data, penalizer: float = 0.0):
    """Fit a lifetimes model (``make``: its fitter class) on ``data``; when it does not converge,
    retry with a looser tolerance, then with a small penalizer (``_ATTEMPTS``).

    Raises PipelineError when lifetimes is missing or the model does not converge."""
    try:
        from lifetimes.utils import ConvergenceError
    except ImportError as exc:  # pragma: no cover - a pinned dependency
        raise PipelineError("BG/NBD needs the lifetimes package: pip install lifetimes==0.11.3") from exc
    for coef, tol in _ATTEMPTS:
        try:
            with contextlib.redirect_stdout(io.StringIO()), np.errstate(all="ignore"):
                # lifetimes prints scipy's result
                return make(penalizer_coef=penalizer if coef is None else coef).fit(*data, tol=tol)
        except ConvergenceError:
            continue
    raise PipelineError(f"{make.__name__} did not converge, even with a penalizer of 0.01")


def fit_bgnbd(frequency: np.ndarray, recency: np.ndarray, T: np.ndarray) -> dict[str, float]:
    """BG/NBD's four parameters (r, alpha, a, b) fitted by lifetimes on (customers,) arrays in days."""
    from lifetimes import BetaGeoFitter

    bg = _fit(BetaGeoFitter, *(pd.Series(np.asarray(v, dtype=float)) for v in (frequency, recency, T)))
    return {k: float(bg.params_[k]) for k in ("r", "alpha", "a", "b")}


def bgnbd_quantities(
    params: dict[str, float], frequency: np.ndarray, recency: np.ndarray, T: np.ndarray, horizon_days: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(P(alive), expected purchase days in the horizon, P(no purchase in the horizon)) per customer.

    Fader, Hardie & Lee (2005), equations (11) and (10); the same formulas as lifetimes'
    ``BetaGeoFitter`` (a test holds them together) in plain numpy, without its per-call pandas
    cost, which dominated scoring one customer.
    P(no purchase in the horizon): see :func:`no_purchase_probability`. Where a degenerate fit
    overflows (lifetimes gives inf there), the NBD limit is used.
    """
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    x, t_x, age = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
    alive = probability_alive(params, x, t_x, age)
    t = float(horizon_days)
    with np.errstate(all="ignore"):
        _a, _b, _c, z = r + x, b + x, a + b + x - 1, t / (alpha + age + t)
        ln_hyp = np.log(hyp2f1(_a, _b, _c, z))
        # where the series overflows, Euler's transformation of the same function
        alt = np.log(hyp2f1(_c - _a, _c - _b, _c, z)) + (_c - _a - _b) * np.log(1 - z)
        ln_hyp = np.where(np.isinf(ln_hyp), alt, ln_hyp)
        ever = 1 - np.exp(ln_hyp + (r + x) * np.log((alpha + age) / (alpha + age + t)))
        purchases = (a + b + x - 1) / (a - 1) * ever * alive
        # A degenerate fit (a and b near 0: hardly any dropout) makes the hypergeometric term
        # overflow; its limit is the NBD's posterior mean rate times the horizon.
        nbd = alive * (r + x) / (alpha + age) * t
    purchases = np.nan_to_num(np.where(np.isfinite(purchases), purchases, nbd))
    return alive, purchases, no_purchase_probability(params, x, age, alive, horizon_days)


def probability_alive(
    params: dict[str, float], frequency: np.ndarray, recency: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """P(alive) per customer: 1 without a repeat purchase, else
    ``1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))`` (in logs)."""
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    x, t_x, age = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
    with np.errstate(all="ignore"):
        log_odds = (r + x) * np.log((alpha + age) / (alpha + t_x)) + np.log(a / (b + np.maximum(x, 1) - 1))
        return np.where(x == 0, 1.0, expit(-log_odds))


def no_purchase_probability(
    params: dict[str, float], frequency: np.ndarray, T: np.ndarray, alive: np.ndarray, horizon_days: int
) -> np.ndarray:
    """P(no purchase in the next ``horizon_days``) from P(alive) (see :func:`bgnbd_quantities`)."""
    shape, alpha = params["r"], params["alpha"]
    with np.errstate(all="ignore"):
        p_none = 1 - alive + alive * ((alpha + T) / (alpha + T + horizon_days)) ** (shape + frequency)
    return np.clip(np.nan_to_num(p_none, nan=1.0), 0.0, 1.0)


def fit_gamma_gamma(frequency: np.ndarray, monetary: np.ndarray) -> dict[str, float]:
    """Gamma-Gamma's parameters (p, q, v) fitted by lifetimes on the customers with repeat
    purchases and a positive average spend. Raises PipelineError with fewer than 2 such customers
    or when the fit does not converge."""
    from lifetimes import GammaGammaFitter

    f, m = np.asarray(frequency, dtype=float), np.asarray(monetary, dtype=float)
    repeat = (f > 0) & (m > 0)
    if repeat.sum() < 2:
        raise PipelineError(f"Gamma-Gamma needs 2 customers with repeat spend; there are {int(repeat.sum())}")
    gg = _fit(GammaGammaFitter, pd.Series(f[repeat]), pd.Series(m[repeat]))
    return {k: float(gg.params_[k]) for k in ("p", "q", "v")}


def gamma_gamma_average(params: dict[str, float], frequency: np.ndarray, monetary: np.ndarray) -> np.ndarray:
    """Expected spend per purchase day of each customer: the population mean ``p v / (q - 1)``
    shrunk towards the customer's own average by the weight ``p x / (p x + q - 1)`` (a customer
    with no repeat purchase gets the population mean). Needs q > 1 (a finite population mean)."""
    p, q, v = params["p"], params["q"], params["v"]
    x = np.asarray(frequency, dtype=float)
    weight = p * x / (p * x + q - 1)
    return (1 - weight) * (p * v / (q - 1)) + weight * np.asarray(monetary, dtype=float)
