"""Spend reconciliation: every method makes the categories add up to the total."""

from __future__ import annotations

import numpy as np
import pytest

from ml_pipeline.models.reconcile import METHODS, reconcile_spend

TOTAL = np.array([10.0, 0.0, 5.0, 2.0])
CATS = np.array([[4.0, 4.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 3.0]])


@pytest.mark.parametrize("method", METHODS)
def test_categories_add_up_to_the_total(method):
    total, cats = reconcile_spend(TOTAL, CATS, method)
    assert np.allclose(cats.sum(axis=1), total)
    assert (cats >= 0).all() and (total >= 0).all()


def test_top_down_keeps_the_total_and_the_category_shares():
    total, cats = reconcile_spend(TOTAL, CATS, "top_down")
    assert np.allclose(total, TOTAL)
    assert np.allclose(cats[0], [5.0, 5.0, 0.0]) and np.allclose(cats[3], [0.5, 0.0, 1.5])
    assert np.allclose(cats[1], 0.0)  # no total: nothing to share
    # a customer whose categories were all 0: the population's mean shares (5/14, 5/14, 4/14)
    assert np.allclose(cats[2], 5.0 * np.array([5.0, 5.0, 4.0]) / 14.0)


def test_bottom_up_and_middle():
    total, _ = reconcile_spend(TOTAL, CATS, "bottom_up")
    assert np.allclose(total, [8.0, 2.0, 0.0, 4.0])
    total, _ = reconcile_spend(TOTAL, CATS, "middle")
    assert np.allclose(total, [9.0, 1.0, 2.5, 3.0])


def test_an_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown reconciliation 'sideways'"):
        reconcile_spend(TOTAL, CATS, "sideways")
