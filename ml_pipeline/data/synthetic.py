"""Synthetic event logs with realistic structure, for benchmarks, tests and the demo.

Customers arrive over time, buy at heterogeneous Gamma-distributed rates, drop out after a
heterogeneous lifetime (buy-till-you-die), spend lognormal amounts, prefer a few of several
categories, sometimes return goods, and also log in, visit, open tickets and fail payments.
Everything is vectorized, so 1M customers / 10M events take seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

CATEGORIES = (
    "GROCERY",
    "ELECTRONICS",
    "CLOTHING",
    "HOME",
    "BEAUTY",
    "TOYS",
    "SPORTS",
    "BOOKS",
    "GARDEN",
    "PET",
    "AUTOMOTIVE",
    "MUSIC",
)
OTHER_TYPES = ("login", "visit", "support_ticket", "failed_payment")


def generate_events(
    n_customers: int = 10_000,
    n_events: int = 100_000,
    days: int = 730,
    end_date: str = "2024-12-31",
    seed: int = 0,
) -> pd.DataFrame:
    """A synthetic event log of about ``n_events`` rows in the SPEC §1 columns."""
    rng = np.random.default_rng(seed)
    end = np.datetime64(end_date, "D")
    start = end - days + 1
    n = n_customers
    acquired = rng.integers(0, int(days * 0.8), n)
    lifetime = rng.exponential(rng.choice([90.0, 400.0, 2000.0], n, p=[0.35, 0.4, 0.25]))
    active_until = np.minimum(acquired + lifetime, days - 1)
    active_days = np.maximum(active_until - acquired, 1.0)
    shape = 0.9
    rate = rng.gamma(shape, 1.0, n)
    purchase_share = 0.75
    rate *= (n_events * purchase_share) / max(float((rate * active_days).sum()), 1.0)
    n_purchases = 1 + rng.poisson(rate * active_days)
    scale = n_events * purchase_share / n_purchases.sum()
    n_purchases = np.maximum(1, np.round(n_purchases * min(scale, 1.0)).astype(np.int64))

    cust = np.repeat(np.arange(n), n_purchases)
    first = np.zeros(len(cust), dtype=bool)
    first[np.concatenate([[0], np.cumsum(n_purchases)[:-1]])] = True
    offset = np.where(first, 0.0, rng.random(len(cust)) * active_days[cust])
    day = (acquired[cust] + offset).astype(np.int64)
    mean_spend = rng.lognormal(3.3, 0.8, n)
    amount = np.round(mean_spend[cust] * rng.lognormal(-0.18, 0.6, len(cust)), 2)

    popularity = np.linspace(2.0, 0.3, len(CATEGORIES))
    prefs = rng.dirichlet(popularity, n).cumsum(axis=1)
    u = rng.random(len(cust))
    category = np.asarray(CATEGORIES)[(u[:, None] > prefs[cust]).sum(axis=1).clip(0, len(CATEGORIES) - 1)]
    frames = [
        pd.DataFrame(
            {"cust": cust, "day": day, "amount": amount, "event_type": "purchase", "category": category}
        )
    ]

    refund = rng.random(len(cust)) < 0.03
    frames.append(
        pd.DataFrame(
            {
                "cust": cust[refund],
                "day": np.minimum(day[refund] + rng.integers(1, 20, refund.sum()), days - 1),
                "amount": -np.round(amount[refund] * rng.choice([0.5, 1.0], refund.sum()), 2),
                "event_type": "refund",
                "category": category[refund],
            }
        )
    )

    n_other = int(n_events - sum(len(f) for f in frames))
    if n_other > 0:
        oc = rng.choice(n, n_other, p=n_purchases / n_purchases.sum())
        kind = rng.choice(len(OTHER_TYPES), n_other, p=[0.55, 0.3, 0.1, 0.05])
        # Tickets and failed payments cluster near the end of a customer's life: a churn signal.
        near_end = kind >= 2
        span = active_until[oc] - acquired[oc]
        odays = acquired[oc] + rng.random(n_other) * span
        odays[near_end] = np.maximum(
            active_until[oc][near_end] - rng.exponential(20.0, near_end.sum()), acquired[oc][near_end]
        )
        frames.append(
            pd.DataFrame(
                {
                    "cust": oc,
                    "day": odays.astype(np.int64),
                    "amount": 0.0,
                    "event_type": np.asarray(OTHER_TYPES)[kind],
                    "category": "",
                }
            )
        )

    events = pd.concat(frames, ignore_index=True).sort_values(["day", "cust"], kind="stable")
    return pd.DataFrame(
        {
            "customer_id": np.char.add("C", np.char.zfill(events["cust"].to_numpy().astype(str), 7)),
            "event_date": (start + events["day"].to_numpy().astype("timedelta64[D]")).astype("datetime64[s]"),
            "amount": events["amount"].to_numpy(),
            "event_type": events["event_type"].to_numpy(),
            "category": events["category"].to_numpy(),
        }
    )


def write_events(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a generated log as CSV (optionally .gz) or Parquet, by extension."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        out = frame.assign(event_date=frame["event_date"].dt.strftime("%Y-%m-%d"))
        out.to_csv(path, index=False)
    return path
