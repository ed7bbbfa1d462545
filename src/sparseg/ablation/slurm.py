"""A sweep as one SLURM job array: one array task per unit (a training and the stages evaluated
on it, for one seed), its commands chained with ``&&`` so train → tune → evaluate keep their
order, and units already finished left out. Running ``sparseg ablate`` again afterwards finds
every run done and writes the tables (the sweep is resumable, so a failed task just reruns).
"""

from __future__ import annotations

import shlex
from pathlib import Path

from sparseg.io_utils import atomic_write

SCRIPT_NAME = "sweep.sbatch"


def sbatch_script(units: list[tuple[str, str]], out_dir: Path, job_name: str) -> str:
    """The array script for ``units`` (a label and the unit's chained command line each)."""
    if not units:
        raise ValueError("no unit left to run")
    log = shlex.quote(str(Path(out_dir) / "slurm-%A_%a.log"))
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={shlex.quote(job_name)}",
        f"#SBATCH --array=0-{len(units) - 1}",
        f"#SBATCH --output={log}",
        "#SBATCH --ntasks=1",
        "# Add your cluster's resources here, e.g. #SBATCH --gres=gpu:1 and --time=.",
        "set -euo pipefail",
        'case "$SLURM_ARRAY_TASK_ID" in',
    ]
    for index, (label, command) in enumerate(units):
        lines += [f"  {index})  # {label}", f"    {command}", "    ;;"]
    lines += [
        '  *) echo "no unit $SLURM_ARRAY_TASK_ID" >&2; exit 2 ;;',
        "esac",
    ]
    return "\n".join(lines) + "\n"


def write_sbatch(
    units: list[tuple[str, str]], out_dir: Path, ladder_name: str, quiet: bool
) -> list[Path]:
    """``DIR/sweep.sbatch`` for the unfinished units (none left: nothing written)."""
    if not units:
        if not quiet:
            print("every run is finished: run without --launcher to write the tables", flush=True)
        return []
    path = Path(out_dir) / SCRIPT_NAME
    text = sbatch_script(units, out_dir, f"sparseg-{ladder_name}")
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    if not quiet:
        print(
            f"wrote {path} ({len(units)} array tasks): submit it with `sbatch {path}`, then run "
            "this command again without --launcher to collect the tables",
            flush=True,
        )
    return [path]
