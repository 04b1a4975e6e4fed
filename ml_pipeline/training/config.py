"""Training settings, shared by the trainer and the per-target model selection."""

from __future__ import annotations

from dataclasses import dataclass

from ml_pipeline.models.registry import DEFAULT_MODELS


@dataclass
class TrainConfig:
    """Training settings; the defaults are the documented ones."""

    horizon_days: int = 30
    churn_horizon_days: int = 30
    n_cutoffs: int = 12
    step_days: int | None = None
    top_categories: int = 5
    calibrate_churn: bool = True  # shift the churn model's level to the latest labelled window
    churn_label: bool = False  # learn churn from the log's churn label column (training.labelled)
    models: tuple[str, ...] = DEFAULT_MODELS  # the zoo's families tried per target (ml_pipeline.models)
    selection_rows: int = 250_000  # rows the candidate models are fit on when there are more
    min_train_rows: int = 200
    fixed_rounds: int = 100  # when there is no earlier cutoff to stop early on
    random_state: int = 0
    num_threads: int = 0
    candidate_workers: int = 0  # candidates fit at once, one lane each (training.lanes); 0: one per core
