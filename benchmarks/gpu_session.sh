#!/usr/bin/env bash
# The one prepared check for a session that is lent a GPU: training throughput by precision
# (fp32 / bf16-mixed / fp16-mixed), the speed settings (tensor cache on the device, channels_last)
# with the GPU's utilisation, 8-fold TTA sequential vs batched, then the field-guide ladder on both real
# data sets at a GPU budget per training, both sweeps at once, and the step share of the sweep's
# runs (JOBS of them share the GPU: a low share means they are CPU-bound). Not a test.
#
#   bash benchmarks/gpu_session.sh RESULTS_DIR [DATA_ROOT]
#
# DATA_ROOT holds usgra_nerve/ and ms_lesjak_flair/ (default ../shared/data). Wheels for packages
# the machine lacks may wait in .whl/ (installed into /tmp/site; WHEELS=none skips them); source
# archives in .whl/build/ are compiled there with the wheels beside them (pydensecrf2 publishes
# no wheel: its sdist and Cython 0.29.36, the version its setup asks for).
# Knobs: STEPS (optimizer steps per training, default 1000: the field-guide ladder on trained models that
# the CPU sweeps of seed_cpu_1000steps/ cannot afford; STEPS=0 uses MINUTES instead), MINUTES
# (wall-clock budget per run when STEPS=0, default 0.6), SEEDS (3), JOBS (runs at once per data
# set, 8), THROUGHPUT (0 skips the throughput part), LADDER_SECONDS (hard stop for the sweeps,
# 400; a stopped sweep's finished runs count: `sparseg.ablation.runner.render_ablation(DIR)` writes
# its tables from them), RESUME (a folder of committed sweeps, one DATA/ each, that the sweeps
# continue instead of starting afresh: finished runs are not redone; default, with STEPS=1000,
# benchmarks/results/ablation/seed_gpu_1000steps; RESUME=none starts afresh).
# Writes RESULTS_DIR/gpu_throughput.json and RESULTS_DIR/ablation_runs.tar.gz (every run's small
# files and each sweep's ablation.{csv,md,png}; no checkpoints): extract it over RESUME.
# The device tool carries the working tree, .whl and the data (copy DATA_ROOT's two sets into an
# ignored folder of the checkout and name both in `carry`): 64 MiB at most, counted so that the
# 2026-12-04 call was refused until the three largest committed sweep folders under
# benchmarks/results/ablation/ (budget_cpu_5min, budget_loo_cpu_5min, curve_cpu) were moved aside
# for the call (and back after it).
set -u
results=${1:?usage: gpu_session.sh RESULTS_DIR [DATA_ROOT]}
data_root=${2:-../shared/data}
steps=${STEPS:-1000}
minutes=${MINUTES:-0.6}
budget=(--steps-per-run "$steps")
[ "$steps" = 0 ] && budget=(--minutes-per-run "$minutes")
seeds=${SEEDS:-3}
jobs=${JOBS:-8}
ladder_seconds=${LADDER_SECONDS:-400}
sweeps=${SWEEPS_DIR:-/tmp/sparseg_sweeps}
resume=${RESUME:-none}
[ "$steps" = 1000 ] && resume=${RESUME:-benchmarks/results/ablation/seed_gpu_1000steps}
mkdir -p "$results" "$sweeps"
results=$(realpath "$results")
for name in usgra_nerve ms_lesjak_flair; do
    if [ -d "$resume/$name" ] && [ ! -e "$sweeps/$name" ]; then
        cp -r "$resume/$name" "$sweeps/$name" && echo "resuming $resume/$name"
    fi
done

wheels=${WHEELS:-.whl}
if compgen -G "$wheels/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site "$wheels"/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD/src
fi
if compgen -G "$wheels/build/*.tar.gz" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/build_site \
        "$wheels"/build/*.whl || exit 1
    for archive in "$wheels"/build/*.tar.gz; do
        mkdir -p /tmp/sdist && tar -xzf "$archive" -C /tmp/sdist || exit 1
        source_dir=/tmp/sdist/$(basename "$archive" .tar.gz)
        (cd "$source_dir" && PYTHONPATH=/tmp/build_site python3 setup.py -q build_ext --inplace \
            -j 4 >/tmp/sdist.log 2>&1) || { tail -n 20 /tmp/sdist.log; exit 1; }
        export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$source_dir
    done
fi
# One CPU thread per process: the sweeps run many processes side by side.
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
python=${PYTHON:-python3}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
"$python" -c "import torch, sparseg; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'sparseg', sparseg.__version__)" ||
    exit 1

if [ "${THROUGHPUT:-1}" = 1 ] && "$python" -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
    OMP_NUM_THREADS=4 "$python" benchmarks/gpu_throughput.py --steps 30 \
        --out "$results/gpu_throughput.json"
fi

start=$(date +%s)
for name in usgra_nerve ms_lesjak_flair; do
    timeout -s INT "$ladder_seconds" "$python" -m sparseg ablate --data "$data_root/$name" \
        --split "$data_root/$name/split.json" --ladder configs/ladders/field-guide.yaml \
        --seeds "$seeds" --out "$sweeps/$name" "${budget[@]}" --jobs "$jobs" \
        >"$sweeps.$name.log" 2>&1 &
done
# The GPU's load once every run has started, to tell GPU-bound from CPU-bound sweeps.
(sleep 120 && nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader &&
    uptime) 2>/dev/null &
wait
echo "sweeps took $(($(date +%s) - start)) s"
for name in usgra_nerve ms_lesjak_flair; do
    echo "== $name: last lines"
    tail -n 5 "$sweeps.$name.log"
    cp "$sweeps.$name.log" "$sweeps/$name/sweep.log" 2>/dev/null
done
"$python" - "$sweeps" <<'PY'
import json, pathlib, statistics, sys
summaries = [json.loads(p.read_text()) for p in pathlib.Path(sys.argv[1]).rglob("train_summary.json")]
shares = [s["step_share"] for s in summaries if "step_share" in s]
if shares:
    print(f"step share of the sweeps' runs: median {statistics.median(shares):.2f}, "
          f"min {min(shares):.2f}, {len(shares)} runs")
PY
(cd "$sweeps" && find . -type f ! -name '*.ckpt' ! -path '*/tb/*' -print0 |
    tar --null -czf "$results/ablation_runs.tar.gz" --files-from=-)
ls -la "$results"
