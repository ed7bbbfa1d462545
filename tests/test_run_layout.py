import subprocess
import sys
from pathlib import Path

import pytest

from sparseg.errors import SparsegError
from sparseg.run_layout import (
    INFERENCE_FILE,
    LAST_CHECKPOINT,
    METRICS_JSON,
    PER_IMAGE_CSV,
    TRAINED_FILES,
    RunPaths,
    run_dirs,
)


def test_paths_name_the_run_files(tmp_path) -> None:
    paths = RunPaths(tmp_path)
    assert paths.best == tmp_path / "best.ckpt" and paths.last == tmp_path / "last.ckpt"
    assert paths.split.name == "split.json" and paths.inference.name == "inference.json"
    assert paths.eval_dir("test") == tmp_path / "eval_test"
    assert paths.fold(2).root == tmp_path / "fold_2"


def test_fold_runs_are_the_trained_folds(tmp_path) -> None:
    for name in ("fold_0", "fold_1", "fold_2"):
        (tmp_path / name).mkdir()
    for name in ("fold_0", "fold_2"):
        (tmp_path / name / "best.ckpt").write_bytes(b"")
    assert RunPaths(str(tmp_path)).fold_runs() == [tmp_path / "fold_0", tmp_path / "fold_2"]


def test_no_other_module_spells_a_run_file_name() -> None:
    source = Path(__file__).resolve().parents[1] / "src" / "sparseg"
    names = [
        f'"{name}"'
        for name in (
            *TRAINED_FILES,
            LAST_CHECKPOINT,
            INFERENCE_FILE,
            METRICS_JSON,
            PER_IMAGE_CSV,
        )
    ]
    spelled = [
        f"{path.relative_to(source)}: {name}"
        for path in sorted(source.rglob("*.py"))
        if path.name != "run_layout.py"
        for name in names
        if name in path.read_text(encoding="utf-8")
    ]
    assert spelled == []


def test_the_headline_is_one_of_the_dice_conventions() -> None:
    from sparseg.evaluation.aggregate import CONVENTIONS
    from sparseg.run_layout import HEADLINE_METRIC

    assert HEADLINE_METRIC in CONVENTIONS


def test_the_layout_does_not_import_torch() -> None:
    code = "import sys, sparseg.run_layout; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False"


def test_a_fold_all_folder_expands_into_its_fold_runs(tmp_path) -> None:
    for fold in ("fold_0", "fold_1"):
        (tmp_path / "cv" / fold).mkdir(parents=True)
        (tmp_path / "cv" / fold / "best.ckpt").write_bytes(b"")
    (tmp_path / "single").mkdir()
    (tmp_path / "single" / "best.ckpt").write_bytes(b"")
    expanded = run_dirs([tmp_path / "cv", tmp_path / "single"])
    assert expanded == [tmp_path / "cv" / "fold_0", tmp_path / "cv" / "fold_1", tmp_path / "single"]
    with pytest.raises(SparsegError, match="run directory not found"):
        run_dirs([tmp_path / "missing"])
