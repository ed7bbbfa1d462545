#!/usr/bin/env bash
# The CPU evidence sweeps of issues 11 and 12, in the order they are owed. Not a test.
#
#   bash benchmarks/evidence_queue.sh [STEP ...]     (from the repository root; default: every
#                                                    step, in this order)
#
# Steps: curve, budget-usgra, budget-ms, budget-loo-usgra, budget-loo-ms, presence, goals-usgra,
# goals-ms (after configs/budget.yaml is rebuilt from the budget ladders), goals-ms-one-day (not in
# the default order), seed-usgra, seed-ms, and finish-gpu-usgra, finish-gpu-ms (not in the default
# order: the GPU's field-guide ladder finished on this CPU, see seed_gpu_1000steps in the results
# README), ensemble-oof-usgra, ensemble-oof-ms (not in the default order: the GPU ladder's
# "+ ensemble" row again, tuned on every fold's out-of-fold predictions; its seeds trained before
# that saved no validation probabilities beyond fold 0's and are trained again, 9 CPU trainings a
# data set at 1,000 steps, bound by steps). The seed-*, finish-gpu-* and ensemble-oof-* steps run
# the field guide ladder as those sweeps ran it, its pre-trained stage asking for ImageNet weights
# (skipped offline): the shipped ladder pretrains in-domain there now, and `sparseg ablate`
# refuses to mix a changed stage into finished runs.
# Every sweep is resumable: a run whose evaluation.json is in benchmarks/results/ablation/ is not
# redone, on this machine or any other, so run the same command again after an interruption and
# commit each sweep folder as its runs land (checkpoints and tb/ are git-ignored). The
# minute-bound steps (all but seed-*) need the machine alone: two one-core runs at a time and
# nothing else, no tests, no helpers. The seed-* steps are bound by optimizer steps and may run
# beside other work. A minute-bound step resumed on a machine whose training step is more than
# 1.5x slower or faster than its finished runs' stops with an error (`sparseg ablate`'s pace check).
# DATA_ROOT (default ../shared/data) holds usgra_nerve/ and ms_lesjak_flair/.
set -eu
data_root=${DATA_ROOT:-../shared/data}
results=benchmarks/results/ablation
sparseg=${SPARSEG:-.venv/bin/sparseg}
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1

sweep() {  # sweep DATA_DIR LADDER OUT [ablate options...]; LADDER: a name in configs/ladders or a path
    local data=$1 ladder=$2 out=$3
    shift 3
    [[ $ladder == */* ]] || ladder=configs/ladders/$ladder
    local split=()
    [ -f "$data/split.json" ] && split=(--split "$data/split.json")
    echo "== $(date -u +%FT%TZ) $ladder on $data -> $out"
    "$sparseg" ablate --data "$data" "${split[@]}" --ladder "$ladder" \
        --seeds 3 --jobs 2 --out "$out" "$@"
}

redo_old_ensembles() {  # redo_old_ensembles SWEEP: drop the ensemble seeds tuned on fold 0 alone
    .venv/bin/python - "$1" <<'PY'
import json, shutil, sys
from pathlib import Path

import numpy as np

for unit in sorted(Path(sys.argv[1]).glob("*-ensemble/seed*")):
    saved = unit / "fold_1" / "probabilities.npz"
    subsets = json.loads(str(np.load(saved)["meta"]))["subsets"] if saved.is_file() else {}
    if "val" not in subsets:
        print(f"training again (no out-of-fold probabilities of fold 1): {unit}")
        shutil.rmtree(unit)
PY
}

imagenet_ladder() {  # imagenet_ladder FILE: the field guide ladder as the seed_* sweeps
    # ran it, its pre-trained stage asking for ImageNet weights (skipped offline); the shipped
    # ladder pretrains there instead, which `sparseg ablate` refuses to mix into those runs
    .venv/bin/python - "$1" <<'PY'
import os, sys
from pathlib import Path

import yaml

source, target = Path("configs/ladders/field-guide.yaml"), Path(sys.argv[1])
ladder = yaml.safe_load(source.read_text())
ladder["base"] = os.path.relpath(source.parent / ladder["base"], target.parent)
for stage in ladder["stages"]:
    if stage.pop("pretrain", None) is not None:
        stage.pop("note", None)
        stage["requires"] = "pretrained_weights"
        stage["overrides"] = {"model.encoder_weights": "imagenet"}
target.write_text(yaml.safe_dump(ladder, sort_keys=False))
PY
    echo "$1"
}

usgra=$data_root/usgra_nerve ms=$data_root/ms_lesjak_flair
field_guide_as_run=${TMPDIR:-/tmp}/sparseg-field-guide-imagenet.yaml
run_step() {
    case $1 in
    curve) sweep "$usgra" presets.yaml "$results/curve_cpu/usgra_nerve" --budgets 2,5,15 ;;
    budget-usgra) sweep "$usgra" budget.yaml "$results/budget_cpu_5min/usgra_nerve" \
        --minutes-per-run 5 ;;
    budget-ms) sweep "$ms" budget.yaml "$results/budget_cpu_5min/ms_lesjak_flair" \
        --minutes-per-run 5 ;;
    budget-loo-usgra) sweep "$usgra" budget-leave-one-out.yaml \
        "$results/budget_loo_cpu_5min/usgra_nerve" --minutes-per-run 5 ;;
    budget-loo-ms) sweep "$ms" budget-leave-one-out.yaml \
        "$results/budget_loo_cpu_5min/ms_lesjak_flair" --minutes-per-run 5 ;;
    presence)
        # 40 % empty frames at the field guide's 0.5 % foreground, made afresh (same seed, same images)
        local synth=${SYNTH_DIR:-/tmp/sparseg_synth_empty40}
        [ -d "$synth/images" ] || "$sparseg" synth "$synth" --n 300 --empty 0.4 --fg 0.005 --seed 0
        sweep "$synth" presence.yaml "$results/presence_cpu_5min/synth_empty40" \
            --minutes-per-run 5 ;;
    goals-usgra) sweep "$usgra" basic-vs-budget.yaml "$results/goals_cpu_15min/usgra_nerve" \
        --minutes-per-run 15 ;;
    goals-ms) sweep "$ms" basic-vs-budget.yaml "$results/goals_cpu_15min/ms_lesjak_flair" \
        --minutes-per-run 15 ;;
    goals-ms-one-day)  # all three seeds on one machine and day, when none of seed 0's pace comes
        sweep "$ms" basic-vs-budget.yaml "$results/goals_cpu_15min_one_day/ms_lesjak_flair" \
            --minutes-per-run 15 ;;
    seed-usgra) sweep "$usgra" "$(imagenet_ladder "$field_guide_as_run")" \
        "$results/seed_cpu_1000steps/usgra_nerve" \
        --steps-per-run 1000 ;;
    seed-ms) sweep "$ms" "$(imagenet_ladder "$field_guide_as_run")" \
        "$results/seed_cpu_1000steps/ms_lesjak_flair" \
        --steps-per-run 1000 ;;
    finish-gpu-usgra) sweep "$usgra" "$(imagenet_ladder "$field_guide_as_run")" \
        "$results/seed_gpu_1000steps/usgra_nerve" \
        --steps-per-run 1000 ;;
    finish-gpu-ms) sweep "$ms" "$(imagenet_ladder "$field_guide_as_run")" \
        "$results/seed_gpu_1000steps/ms_lesjak_flair" \
        --steps-per-run 1000 ;;
    ensemble-oof-usgra) redo_old_ensembles "$results/seed_gpu_1000steps/usgra_nerve"
        run_step finish-gpu-usgra ;;
    ensemble-oof-ms) redo_old_ensembles "$results/seed_gpu_1000steps/ms_lesjak_flair"
        run_step finish-gpu-ms ;;
    *) echo "evidence_queue.sh: unknown step '$1'" >&2; exit 2 ;;
    esac
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(curve budget-usgra budget-ms budget-loo-usgra budget-loo-ms
    presence goals-usgra goals-ms seed-usgra seed-ms)
for step in "${steps[@]}"; do
    run_step "$step"
done
