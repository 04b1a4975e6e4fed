"""Reason phrases: one function per reason group, vectorized over the customers that group explains.

A phrase function takes ``c``, a function from a feature name to that feature's values for the
customers being explained (NaN for a feature the bundle lacks), and returns one text per customer
with the customer's own numbers. :func:`phraser` picks the function of a group named by
:func:`ml_pipeline.features.reason_groups`.
"""

from __future__ import annotations

from collections.abc import Callable

from ml_pipeline.features import describe_feature

_MEMO_LIMIT = 100_000  # texts kept per formatter; the cache starts again past it


def _memo(fmt: Callable[[float], str]) -> Callable[[float], str]:
    """``fmt`` with its texts kept by value: a million customers' phrases repeat few day counts
    and amounts, and a lookup costs a fraction of formatting. NaN and zeros are never kept
    (-0.0 equals 0.0 as a key but is written "-0")."""
    texts: dict[float, str] = {}

    def text(x: float) -> str:
        got = texts.get(x)
        if got is not None:
            return got
        out = fmt(x)
        if x == x and x != 0:
            if len(texts) >= _MEMO_LIMIT:
                texts.clear()
            texts[x] = out
        return out

    return text


@_memo
def _int(x: float) -> str:
    return f"{x:,.0f}"


@_memo
def _money(x: float) -> str:
    return f"{x:,.2f}"


@_memo
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


# The groups below phrase only customers _EVIDENCE lets through: each has done the thing it names.
def _basket(c) -> list[str]:
    return [
        f"{lines:.1f} lines per purchase day at {_money(avg)} each on average"
        for lines, avg in zip(c("lines_per_visit"), c("basket_avg"))
    ]


def _refunds(c) -> list[str]:
    return [
        f"{_times(n, 'refund')}, {share:.0%} of purchases by value"
        for n, share in zip(c("refund_count_all"), c("refund_share"))
    ]


def _mix(c) -> list[str]:
    return ["1 category bought" if n == 1 else f"{_int(n)} categories bought" for n in c("n_categories_all")]


def _other_events(c) -> list[str]:
    return [
        f"{_int(recent)} non-purchase events in the last 30 days ({_int(total)} in all)"
        for recent, total in zip(c("other_events_30d"), c("other_events_all"))
    ]


def _category(slug: str, name: str) -> Callable:
    def phrase(c) -> list[str]:
        out = []
        for s30, s90, share in zip(
            c(f"cat_{slug}_spend_30d"), c(f"cat_{slug}_spend_90d"), c(f"cat_{slug}_share")
        ):
            if s90 <= 0:
                out.append(f"no {name} purchase in the last 90 days ({share:.0%} of all spend before)")
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


# What a reason must rest on. The groups about an optional activity - non-purchase events, refunds,
# a category, baskets, the category mix - name the count or amount their phrase leads with; a
# customer for whom all of them are zero (or missing) has not done the thing, and its absence is no
# cause of higher risk: a tree's split on "never had a 'failed_payment' event" says the customer is
# like others who had none, not that having none raises the risk. Such a reason is dropped and the
# next one takes its place (:class:`ml_pipeline.explain.reasons.Reasons`). The purchase groups
# (recency, frequency, spend trend, value, tenure, regularity) are about the behaviour churn is
# measured on: "no purchase for 64 days" or "no spend in the last 180 days" is the risk itself,
# and stays. The visit trend is a change of purchase days: with none in either 90 days there is
# no trend ("0 purchase days, as many as in the 90 before"); recency and spend say the absence.
_EVIDENCE: dict[str, tuple[str, ...]] = {
    "visit_trend": ("frequency_180d",),
    "other_events": ("other_events_30d",),
    "refunds": ("refund_count_all",),
    "basket": ("lines_per_visit",),
    "mix": ("n_categories_all",),
    "cat": ("cat_{key}_spend_90d", "cat_{key}_share"),  # bought in the last 90 days, or before
    "events": ("events_{key}_30d",),  # the phrase leads with the last 30 days' count
}


def evidence(group: str) -> tuple[str, ...]:
    """The features of which at least one must be above zero for the group to be a reason of a
    customer's higher risk; () for a group any customer's numbers support."""
    kind, _, key = group.partition(":")
    return tuple(f.format(key=key) for f in _EVIDENCE.get(kind, ()))


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
