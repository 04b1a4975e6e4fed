"""Learning: rolling cutoffs, labels, the per-target model zoo chosen on time-based validation,
metrics, and the comparison with BG/NBD + Gamma-Gamma."""

from ml_pipeline.training.evaluation import Evaluation, evaluate, render
from ml_pipeline.training.metrics import reliability_table, score
from ml_pipeline.training.targets import build_targets, target_names
from ml_pipeline.training.trainer import TrainConfig, TrainResult, build_dataset, train
from ml_pipeline.training.windows import WindowPlan, plan_windows

__all__ = [
    "Evaluation",
    "TrainConfig",
    "TrainResult",
    "WindowPlan",
    "build_dataset",
    "build_targets",
    "evaluate",
    "plan_windows",
    "reliability_table",
    "render",
    "score",
    "target_names",
    "train",
]
