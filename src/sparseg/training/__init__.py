"""Training: the Fabric loop, LR schedule, checkpoints, early stopping and budgets."""

from sparseg.training.folds import train_folds
from sparseg.training.loop import train

__all__ = ["train", "train_folds"]
