"""Ablation sweeps: a ladder of config stages × seeds of ordinary train (+ tune) + evaluate runs,
with paired-seed gains and the claimed Dice ranges beside the measured ones.

The modules, in the order a sweep uses them: ``ladder`` (stages from a YAML ladder), ``layout``
(the sweep folder's names), ``prepare`` (splits, stage folders, ``ablation_plan.json``, typed
in ``manifest``),
``sweep`` (a run and its commands), ``plan`` (the one task list), its executors ``local`` and
``slurm`` (and the printed commands), ``helper_steps`` (the steps that are not sparseg commands),
``rows`` (``ablation.csv``), ``outputs`` (the tables), ``stats``, ``pace``, ``curve``;
``runner`` ties them together as :func:`run_ablation`.
"""

from sparseg.ablation.ladder import Ladder, Stage, load_ladder
from sparseg.ablation.outputs import render_ablation
from sparseg.ablation.rows import SweepRow
from sparseg.ablation.runner import AblationResult, SweepSettings, run_ablation
from sparseg.ablation.stats import claim_verdict, mean_std, paired_gain

__all__ = [
    "AblationResult",
    "Ladder",
    "Stage",
    "SweepRow",
    "SweepSettings",
    "claim_verdict",
    "load_ladder",
    "mean_std",
    "paired_gain",
    "render_ablation",
    "run_ablation",
]
