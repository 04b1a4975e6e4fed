"""The declaration of a feature: its name (or name pattern), one-line doc and reason groups.

Each module that computes features declares them next to the code, in the order it adds them
to its output; :mod:`ml_pipeline.features.catalog` collects the declarations for docs/features.md,
for the reasons (:mod:`ml_pipeline.explain`) and for the test that every computed feature is declared.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

# The placeholders a name pattern may hold, and the FeatureBuilder slugs that replace them.
CATEGORY = "<category>"
EVENT_TYPE = "<type>"
PLACEHOLDERS = (CATEGORY, EVENT_TYPE)


@dataclass(frozen=True)
class Feature:
    """One feature, or one feature per category or event type when ``name`` holds a placeholder.

    ``name``: e.g. ``"recency_days"`` or ``"cat_<category>_spend_30d"``.
    ``doc``: its meaning in one line (a row of docs/features.md).
    ``groups``: the reason group, or the groups its contribution is shared between in equal
    parts (see :mod:`ml_pipeline.explain.reasons`); a pattern's groups may hold its placeholder,
    e.g. ``"cat:<category>"``.
    ``family``: features of one family are listed together in docs/features.md, at the place of
    the first; by default each feature is its own family.
    """

    name: str
    doc: str
    groups: str | tuple[str, ...]
    family: str = ""
    placeholder: str | None = field(init=False, default=None)
    pattern: re.Pattern | None = field(init=False, default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.groups, str):
            object.__setattr__(self, "groups", (self.groups,))
        if not self.groups:
            raise ValueError(f"feature {self.name!r} declares no reason group")
        holders = [p for p in PLACEHOLDERS if p in self.name]
        if len(holders) > 1:
            raise ValueError(f"feature {self.name!r} holds more than one placeholder")
        if holders:
            rx = "^" + re.escape(self.name).replace(re.escape(holders[0]), "(.+)") + "$"
            object.__setattr__(self, "placeholder", holders[0])
            object.__setattr__(self, "pattern", re.compile(rx))

    def named(self, slug: str) -> str:
        """The feature name for one category or event-type slug."""
        return self.name.replace(self.placeholder, slug) if self.placeholder else self.name

    def match(self, name: str) -> str | None:
        """The slug ``name`` was made from with this pattern ("" for the fixed name itself), or None."""
        if self.pattern is None:
            return "" if name == self.name else None
        m = self.pattern.match(name)
        return m.group(1) if m else None

    def groups_of(self, slug: str) -> tuple[str, ...]:
        """The reason groups of the feature made from ``slug``."""
        return (
            tuple(g.replace(self.placeholder, slug) for g in self.groups) if self.placeholder else self.groups
        )


def per_window(
    name: str, doc: str, group: str | Callable[[int], str], windows: tuple[int, ...]
) -> list[Feature]:
    """One feature per window of days, listed as one family: ``name`` and ``doc`` hold ``{w}``
    (the window in days); ``group`` is the reason group, or a function of the window giving it."""
    group_of = group if callable(group) else lambda w: group
    return [Feature(name.format(w=w), doc.format(w=w), group_of(w), family=name) for w in windows]


def interleave(*families: list[Feature]) -> list[Feature]:
    """Features computed window by window: the first of each family, then the second of each, ..."""
    return [f for same_window in zip(*families, strict=True) for f in same_window]


@dataclass(frozen=True)
class Block:
    """The features one function computes, in the order it adds them to its output.

    An entry is a :class:`Feature`, expanded over every slug of its placeholder at its place,
    or a tuple of patterns computed together for one slug after another. With ``only_with`` set
    to a placeholder, the function computes nothing when there is no slug for it.
    """

    entries: tuple[Feature | tuple[Feature, ...], ...]
    only_with: str | None = None

    @property
    def features(self) -> list[Feature]:
        """The declarations, patterns unexpanded, in order."""
        return [f for e in self.entries for f in (e if isinstance(e, tuple) else (e,))]

    def names(self, slugs: Mapping[str, list[str]]) -> list[str]:
        """The feature names the function computes, given the slugs of each placeholder."""
        if self.only_with and not slugs[self.only_with]:
            return []
        out: list[str] = []
        for entry in self.entries:
            if isinstance(entry, Feature):
                out += (
                    [entry.named(s) for s in slugs[entry.placeholder]] if entry.placeholder else [entry.name]
                )
            else:
                holder = entry[0].placeholder
                out += [f.named(s) for s in slugs[holder] for f in entry]
        return out
