"""The stacked training rows in the forms the zoo's models train on, each built on first use."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_pipeline.models.lgbm import BinnedRows


class TrainingRows:
    """Stacked feature rows, as a frame and in the forms the models train on."""

    def __init__(self, X: pd.DataFrame):
        self.X = X
        self._binned: BinnedRows | None = None
        self._values: np.ndarray | None = None

    @property
    def binned(self) -> BinnedRows:
        if self._binned is None:
            self._binned = BinnedRows(self.X)
        return self._binned

    @property
    def values(self) -> np.ndarray:
        if self._values is None:
            self._values = self.X.to_numpy(dtype=np.float32)
        return self._values
