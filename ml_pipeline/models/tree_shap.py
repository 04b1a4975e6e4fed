"""Per-prediction feature contributions to a tree model's raw score (log-odds for churn).

Two ways for trees:

- ``exact``: path-dependent tree SHAP, computed by the library itself (LightGBM ``pred_contrib``,
  XGBoost ``pred_contribs``). Called on every customer it costs leaves × depth² per tree.
  Customers who take the same side at every split of a tree share that tree's values, so for
  large inputs the library is called once per distinct pattern of each tree
  (:func:`shared_tree_shap`): the same numbers (tested to 1e-5 of the library's) at a fraction of
  the cost (measured in docs/benchmarks.md).
- ``path``: the path attribution of each tree (Saabas; XGBoost's ``approx_contribs``): the change
  of the node value at every split on the customer's path is credited to that split's feature.
  Cheaper still, but on the shared logs its first reason often differs from tree SHAP's.

A random-forest churn model (127-leaf trees, too many splits to pack a pattern into 64 bits)
gets the library's tree SHAP on every customer.

Both sum, with the tree's base value, to the raw score. Linear models have one exact answer,
coefficient × standardized value, which is what both methods return for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

SHARE_FROM_ROWS = 5_000  # below this, one library call beats one call per tree


def cached(model, name: str, build: Callable):
    """State derived from a model's trees (may be None), built on first use and kept on the model."""
    if name not in model.__dict__:
        model.__dict__[name] = build()
    return model.__dict__[name]


def one_per_tree(picks: np.ndarray, width: int, ones: np.ndarray | None = None) -> sp.csr_matrix:
    """(rows, width) 0/1 matrix with a 1 at each row's pick of every tree (``picks``: rows × trees,
    already offset into one shared table), so ``matrix @ table`` sums the picked table rows.
    ``ones``: at least rows × trees ones to use as the matrix's values (reused across calls)."""
    n, trees = picks.shape
    data = np.ones(n * trees) if ones is None else ones[: n * trees]
    return sp.csr_matrix((data, picks.ravel(), np.arange(0, n * trees + 1, trees)), shape=(n, width))


@dataclass
class TreeSplits:
    """One tree's internal nodes as arrays: where a customer goes at each split."""

    feature: np.ndarray  # int64
    threshold: np.ndarray  # float32: float32 inputs compare against it exactly as the library does
    strict: bool  # XGBoost goes left on x < t, LightGBM on x <= t
    nan_left: np.ndarray  # bool: the side of a missing value
    zero_left: np.ndarray  # int8: -1 = compare zero normally, else the side of 0 (LightGBM "Zero")

    def patterns(self, columns: np.ndarray, nan_rows: dict[int, np.ndarray]) -> np.ndarray:
        """One integer per row: the bits of the side taken at every split of the tree (uint16 for
        up to 16 splits, as a depth-4 tree has, else uint32 or uint64: a narrower array is the
        cheaper to build and to group)."""
        k_splits = len(self.feature)
        dtype = np.uint16 if k_splits <= 16 else np.uint32 if k_splits <= 32 else np.uint64
        bits = np.zeros(columns.shape[1], dtype=dtype)
        for k, (f, t) in enumerate(zip(self.feature.tolist(), self.threshold)):
            x = columns[f]
            left = x < t if self.strict else x <= t
            if f in nan_rows:
                left[nan_rows[f]] = self.nan_left[k]
            if self.zero_left[k] >= 0:
                left[(x == 0) | np.isnan(x)] = bool(self.zero_left[k])
            bits += left * dtype(1 << k)  # bit k is still 0: adding sets it (the fastest way found)
        return bits


def pattern_codes(patterns: np.ndarray, descending: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(patterns)``'s codes (in order of first appearance) and the first row of
    each distinct pattern, in that order.

    ``descending``: ``arange(n - 1, -1, -1)`` (shared by every tree). 16-bit patterns are coded
    through a table of all 65,536 values instead of a hash table: the same codes.
    """
    if patterns.dtype != np.uint16:
        codes, uniques = pd.factorize(patterns)
        first = np.empty(len(uniques), dtype=np.int64)
        first[codes[::-1]] = descending  # the last write of each pattern is its first row
        return codes, first
    first_of = np.full(1 << 16, len(patterns), dtype=np.int64)
    first_of[patterns[::-1]] = descending
    seen = np.flatnonzero(first_of < len(patterns))
    order = np.argsort(first_of[seen], kind="stable")
    code_of = np.empty(1 << 16, dtype=np.int64)
    code_of[seen[order]] = np.arange(len(seen))
    return code_of[patterns], first_of[seen[order]]


def float32_at_most(t: float) -> np.float32:
    """The largest float32 <= t: for a float32 x, x <= t (in double) iff x <= this."""
    with np.errstate(over="ignore"):  # beyond float32: inf, and the step below gives its largest
        f = np.float32(t)
    return np.nextafter(f, np.float32(-np.inf)) if float(f) > t else f


def shared_tree_shap(
    splits: list[TreeSplits], values: np.ndarray, tree_shap: Callable, project: np.ndarray
) -> np.ndarray:
    """Exact tree SHAP, computed once per distinct path pattern of each tree.

    Path-dependent tree SHAP of one tree depends on a customer only through the side taken at
    each split of that tree (not only the leaf reached: a split off the customer's path counts
    when its own feature is left out). Customers with the same sides share the values, and a
    40-tree model sees a few thousand patterns per tree among 100,000 customers; so the library
    computes SHAP for one representative of each pattern (``tree_shap(rows, tree)``), and the
    values are spread back, already projected onto ``project``'s columns (features × groups).
    """
    n = len(values)
    columns = np.ascontiguousarray(values.T)
    nan_rows = {f: np.flatnonzero(np.isnan(columns[f])) for f in range(len(columns))}
    nan_rows = {f: rows for f, rows in nan_rows.items() if len(rows)}
    out = np.zeros((n, project.shape[1]))
    descending = np.arange(n - 1, -1, -1, dtype=np.int64)
    # Trees are summed in batches by one sparse product: row i picks its pattern's row of each
    # tree (in tree order, so every row's sum is added up in the same order as ever).
    batch = 32
    ones = np.ones(n * batch)
    for start in range(0, len(splits), batch):
        trees = range(start, min(start + batch, len(splits)))
        picks = np.empty((n, len(trees)), dtype=np.int64)
        tables, offset = [], 0
        for j, t in enumerate(trees):
            codes, first = pattern_codes(splits[t].patterns(columns, nan_rows), descending)
            shap = np.asarray(tree_shap(values[first], t), dtype=np.float64)[:, :-1]
            tables.append(shap @ project)
            np.add(codes, offset, out=picks[:, j])
            offset += len(first)
        out += one_per_tree(picks, offset, ones) @ np.vstack(tables)
    return out
