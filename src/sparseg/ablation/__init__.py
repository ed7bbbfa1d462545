"""Ablation sweeps: a ladder of config stages × seeds of ordinary train (+ tune) + evaluate runs,
with paired-seed gains and the claimed Dice ranges beside the measured ones."""

from sparseg.ablation.collect import render_ablation
from sparseg.ablation.ladder import Ladder, Stage, load_ladder
from sparseg.ablation.outputs import render_from_csv
from sparseg.ablation.runner import AblationResult, SweepSettings, run_ablation
from sparseg.ablation.stats import claim_verdict, mean_std, paired_gain

__all__ = [
    "AblationResult",
    "Ladder",
    "Stage",
    "SweepSettings",
    "claim_verdict",
    "load_ladder",
    "mean_std",
    "paired_gain",
    "render_ablation",
    "render_from_csv",
    "run_ablation",
]
