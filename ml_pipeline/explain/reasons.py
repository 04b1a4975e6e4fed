"""Reasons: the few factors that push a customer's churn risk up the most, in words, with the
customer's own numbers ("no purchase for 64 days, 3.0x the usual gap of 21 days").

The churn model's per-prediction contributions (each model's ``contributions``;
:mod:`ml_pipeline.models.tree_shap`) are summed over groups of features that say the same thing
in people's terms: recency_days, days_since_last_event, overdue_ratio and recency_score are all
"no purchase for N days". Each feature's groups are declared beside its computation
(:mod:`ml_pipeline.features.catalog`); each group's phrase is in :mod:`ml_pipeline.explain.phrases`.
The groups with the largest positive sums are the reasons, largest first; a customer whose risk
no group pushes up gets none.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ml_pipeline.features import describe_feature, reason_groups

TOP_REASONS = 3
METHODS = ("exact", "path")  # how contributions are computed: see ml_pipeline.models.tree_shap
SEPARATOR = "; "


def _groups_of(name: str) -> tuple[str, ...]:
    """The groups declared beside the feature's computation (ml_pipeline.features.catalog)."""
    return reason_groups(name) or (f"feature:{name}",)  # a feature without a phrase of its own


def group_matrix(features: list[str]) -> tuple[list[str], np.ndarray]:
    """The reason groups of a feature list and the (features × groups) weights summing into them."""
    groups: list[str] = []
    pairs = []
    for j, name in enumerate(features):
        owners = _groups_of(name)
        for g in owners:
            if g not in groups:
                groups.append(g)
            pairs.append((j, groups.index(g), 1.0 / len(owners)))
    weights = np.zeros((len(features), len(groups)))
    for j, g, w in pairs:
        weights[j, g] = w
    return groups, weights


def _int(x: float) -> str:
    return f"{x:,.0f}"


def _money(x: float) -> str:
    return f"{x:,.2f}"


def _days(n: float) -> str:
    return "1 day" if n == 1 else f"{_int(n)} days"


def _times(n: float, what: str) -> str:
    return f"1 {what}" if n == 1 else f"{_int(n)} {what}s"


def _recency(c) -> list[str]:
    out = []
    for r, gap, visits, tenure in zip(
        c("recency_days"), c("days_between_transactions"), c("frequency_all"), c("tenure_days")
    ):
        if not visits > 0:
            out.append(f"no purchase in {_days(tenure)} as a customer")
        elif not gap > 0:
            out.append(f"no purchase for {_days(r)} since the only purchase day")
        elif r >= 1.5 * gap:
            out.append(f"no purchase for {_days(r)}, {r / gap:.1f}x the usual gap of {_days(round(gap))}")
        else:
            out.append(f"last purchase {_days(r)} ago (usual gap {_days(round(gap))})")
    return out


def _frequency(c) -> list[str]:
    return [
        f"{_times(total, 'purchase day')} in all, {_int(last90)} in the last 90 days"
        for total, last90 in zip(c("frequency_all"), c("frequency_90d"))
    ]


def _visit_trend(c) -> list[str]:
    out = []
    for now, half_year in zip(c("frequency_90d"), c("frequency_180d")):
        before = half_year - now
        if now != before:
            way = "down" if now < before else "up"
            out.append(
                f"purchase days {way} from {_int(before)} to {_int(now)} (last 90 days vs the 90 before)"
            )
        else:
            out.append(f"{_times(now, 'purchase day')} in the last 90 days, as many as in the 90 before")
    return out


def _spend_trend(c) -> list[str]:
    out = []
    for now, before in zip(c("monetary_90d"), c("spend_prev_90d")):
        if before > 0 and now != before:
            change = now / before - 1
            out.append(
                f"spend {'down' if change < 0 else 'up'} {abs(change):.0%} vs the previous 90 days "
                f"({_money(now)} vs {_money(before)})"
            )
        elif now == 0 and before <= 0:
            out.append("no spend in the last 180 days")
        else:
            out.append(f"spend {_money(now)} in the last 90 days, {_money(before)} in the 90 before")
    return out


def _value(c) -> list[str]:
    return [
        f"lifetime spend {_money(total)} on one purchase day"
        if days == 1
        else f"lifetime spend {_money(total)}, {_money(per_day)} per purchase day"
        for total, per_day, days in zip(c("monetary_all"), c("avg_transaction_value"), c("frequency_all"))
    ]


def _tenure(c) -> list[str]:
    return [f"customer for {_days(t)}" for t in c("tenure_days")]


def _regularity(c) -> list[str]:
    out = []
    for gap, std, longest in zip(c("days_between_transactions"), c("gap_std_days"), c("gap_max_days")):
        if not gap > 0:
            out.append("no repeat purchase yet")
        else:
            out.append(
                f"gaps between purchases of {_days(round(gap))} ± {_int(std)}, the longest {_days(longest)}"
            )
    return out


def _basket(c) -> list[str]:
    return [
        f"{lines:.1f} lines per purchase day at {_money(avg)} each on average"
        if lines > 0
        else "no basket yet"
        for lines, avg in zip(c("lines_per_visit"), c("basket_avg"))
    ]


def _refunds(c) -> list[str]:
    return [
        "no refunds" if not n > 0 else f"{_times(n, 'refund')}, {share:.0%} of purchases by value"
        for n, share in zip(c("refund_count_all"), c("refund_share"))
    ]


def _mix(c) -> list[str]:
    return ["1 category bought" if n == 1 else f"{_int(n)} categories bought" for n in c("n_categories_all")]


def _other_events(c) -> list[str]:
    return [
        "no non-purchase events (visits, logins, tickets)"
        if not total > 0
        else f"{_int(recent)} non-purchase events in the last 30 days ({_int(total)} in all)"
        for recent, total in zip(c("other_events_30d"), c("other_events_all"))
    ]


def _category(slug: str, name: str) -> Callable:
    def phrase(c) -> list[str]:
        out = []
        for s30, s90, share in zip(
            c(f"cat_{slug}_spend_30d"), c(f"cat_{slug}_spend_90d"), c(f"cat_{slug}_share")
        ):
            if s90 <= 0 and share > 0:
                out.append(f"no {name} purchase in the last 90 days ({share:.0%} of all spend before)")
            elif s90 <= 0:
                out.append(f"never bought {name}")
            else:
                out.append(
                    f"{name}: spend {_money(s30)} in the last 30 days, {_money(s90)} in 90 days "
                    f"({share:.0%} of all spend)"
                )
        return out

    return phrase


def _event_type(slug: str, name: str) -> Callable:
    def phrase(c) -> list[str]:
        return [
            f"{_times(recent, f'{name!r} event')} in the last 30 days ({_int(total)} in all)"
            for recent, total in zip(c(f"events_{slug}_30d"), c(f"events_{slug}_all"))
        ]

    return phrase


def _single(feature: str) -> Callable:
    doc = describe_feature(feature) or feature

    def phrase(c) -> list[str]:
        return [f"{doc}: {v:,.4g}" for v in c(feature)]

    return phrase


_PHRASES: dict[str, Callable] = {
    "recency": _recency,
    "frequency": _frequency,
    "visit_trend": _visit_trend,
    "spend_trend": _spend_trend,
    "value": _value,
    "tenure": _tenure,
    "regularity": _regularity,
    "basket": _basket,
    "refunds": _refunds,
    "mix": _mix,
    "other_events": _other_events,
}


def phraser(group: str, names: dict[str, dict[str, str]]) -> Callable:
    """The phrasing function of a group; ``names`` maps category and event-type slugs to names."""
    kind, _, key = group.partition(":")
    # Names come from the data; the one character a phrase may not hold is the separator's.
    if kind == "cat":
        return _category(key, names["categories"].get(key, key).replace(";", ","))
    if kind == "events":
        return _event_type(key, names["event_types"].get(key, key).replace(";", ","))
    if kind == "feature":
        return _single(key)
    return _PHRASES[group]


class Reasons:
    """Turns contributions into reason texts for one feature list (built once per bundle)."""

    def __init__(self, features: list[str], names: dict[str, dict[str, str]], top: int = TOP_REASONS):
        self.features = features
        self.column = {f: j for j, f in enumerate(features)}
        self.groups, self.weights = group_matrix(features)
        self.phrasers = [phraser(g, names) for g in self.groups]
        self.top = top

    def top_groups(self, grouped: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, top) group indices, largest first, and whether each pushes risk up."""
        k = min(self.top, grouped.shape[1])
        order = np.argsort(-grouped, axis=1, kind="stable")[:, :k]
        return order, np.take_along_axis(grouped, order, axis=1) > 1e-9

    def texts(self, values: np.ndarray, grouped: np.ndarray) -> list[str]:
        """One text per row from its (groups,) contributions (features summed with ``weights``):
        up to ``top`` reasons joined by "; ", or "" when none raises the risk."""
        order, up = self.top_groups(grouped)
        n = len(values)
        slots = [np.full(n, "", dtype=object) for _ in range(order.shape[1])]
        for rank in range(order.shape[1]):
            picked = np.where(up[:, rank], order[:, rank], -1)
            for g in np.unique(picked[picked >= 0]):
                rows = np.flatnonzero(picked == g)
                sub = values[rows]

                def column(feature: str, sub=sub) -> list[float]:
                    j = self.column.get(feature)
                    return (sub[:, j] if j is not None else np.full(len(sub), np.nan)).astype(float).tolist()

                slots[rank][rows] = self.phrasers[g](column)
        return [SEPARATOR.join(p for p in parts if p) for parts in zip(*slots)] if slots else [""] * n


def split(text: str) -> list[str]:
    """The reasons of one prediction as a list (the API's form of the CSV column)."""
    return text.split(SEPARATOR) if text else []
