"""Safety: no unsafe deserialisation in the source tree (a static guard), and outputs that would
land inside the input or over an input file are refused before anything is written."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from sparseg.data.splits import save_split
from tests.helpers import TINY_OVERRIDES
from tests.reliability.support import FIRST_ID, assert_one_line_error, snapshot

SOURCE = Path(__file__).resolve().parents[2] / "src" / "sparseg"
UNSAFE_MODULES = {"pickle", "cPickle", "dill", "shelve", "marshal", "joblib"}
UNSAFE_YAML = {"load", "unsafe_load", "full_load", "load_all", "unsafe_load_all", "full_load_all"}


def _is_true(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def unsafe_calls(source: str) -> list[str]:
    """Findings as ``line: what`` for code that could run code hidden in a user's file.

    Parsed, not grepped, so ``model.eval()`` and the word pickle in a comment are not findings.
    """
    findings = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [alias.name for alias in node.names]
            module = node.module if isinstance(node, ast.ImportFrom) else None
            roots = {(module or name).split(".")[0] for name in names}
            if roots & UNSAFE_MODULES:
                findings.append(f"{node.lineno}: imports {sorted(roots & UNSAFE_MODULES)[0]}")
            if module in ("torch", "yaml") and {"load", *UNSAFE_YAML} & set(names):
                findings.append(f"{node.lineno}: imports load from {module} (call it qualified)")
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in ("eval", "exec"):
            findings.append(f"{node.lineno}: {func.id}()")
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
            continue
        owner, name = func.value.id, func.attr
        weights_only = _keyword(node, "weights_only")
        if owner == "torch" and name == "load" and not (weights_only and _is_true(weights_only)):
            findings.append(f"{node.lineno}: torch.load without weights_only=True")
        if owner == "yaml" and name in UNSAFE_YAML:
            findings.append(f"{node.lineno}: yaml.{name} (use yaml.safe_load)")
        allow_pickle = _keyword(node, "allow_pickle")
        if owner in ("np", "numpy") and name == "load" and allow_pickle and _is_true(allow_pickle):
            findings.append(f"{node.lineno}: numpy.load with allow_pickle=True")
    return findings


def test_the_guard_finds_each_unsafe_pattern():
    bad = """
import pickle
from torch import load
state = torch.load(path)
state = torch.load(path, weights_only=False)
config = yaml.load(text)
value = eval(text)
array = np.load(path, allow_pickle=True)
model.eval()  # fine: a method, not the builtin
ok = torch.load(path, weights_only=True)
"""
    assert unsafe_calls(bad) == [
        "2: imports pickle",
        "3: imports load from torch (call it qualified)",
        "4: torch.load without weights_only=True",
        "5: torch.load without weights_only=True",
        "6: yaml.load (use yaml.safe_load)",
        "7: eval()",
        "8: numpy.load with allow_pickle=True",
    ]


def test_source_tree_has_no_unsafe_deserialisation():
    files = sorted(SOURCE.rglob("*.py"))
    assert len(files) > 20  # the guard must be looking at the real package
    findings = [
        f"{path.relative_to(SOURCE)}:{finding}"
        for path in files
        for finding in unsafe_calls(path.read_text(encoding="utf-8"))
    ]
    assert findings == []


# ---------------------------------------------------------------- output paths
def refused(run_cli, protected: list[Path], *args, fragments: tuple[str, ...]) -> None:
    """The command fails with one line and every ``protected`` folder or file is unchanged."""
    before = [snapshot(p) if p.is_dir() else p.read_bytes() for p in protected]
    assert_one_line_error(run_cli(*args), *fragments)
    assert [snapshot(p) if p.is_dir() else p.read_bytes() for p in protected] == before


@pytest.mark.parametrize(
    ("input_part", "out_part", "inside"),
    [
        ("images", "images/predictions", "images"),
        ("images", "images", "images"),
        ("", "masks", ""),
        (f"images/{FIRST_ID}.png", "images", "images"),
    ],
)
def test_predict_output_inside_the_input_is_refused(
    run_cli, trained_run, dataset, input_part, out_part, inside
):
    out = dataset / out_part
    refused(
        run_cli,
        [dataset],
        *("predict", "--run", trained_run, "--input", dataset / input_part, "--out", out),
        fragments=(f"{out.resolve()}: output folder lies inside the input folder",),
    )
    assert (dataset / inside).resolve().is_dir()


def test_score_output_inside_the_data_is_refused(run_cli, dataset, tmp_path):
    out = dataset / "masks" / "metrics"
    refused(
        run_cli,
        [dataset],
        *("score", "--pred", dataset / "masks", "--data", dataset, "--out", out),
        fragments=("output folder lies inside the input folder",),
    )


def test_failed_score_keeps_earlier_metrics(run_cli, dataset, tmp_path):
    predictions = Path(tmp_path / "predictions")
    predictions.mkdir()
    for mask in (dataset / "masks").iterdir():
        (predictions / mask.name).write_bytes(mask.read_bytes())
    (predictions / f"{FIRST_ID}.png").write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    out = tmp_path / "scores"
    out.mkdir()
    (out / "metrics.json").write_text('{"dice": 0.9}')
    refused(
        run_cli,
        [out],
        *("score", "--pred", predictions, "--data", dataset, "--out", out),
        fragments=(f"{predictions / FIRST_ID}.png: ",),
    )


def test_export_over_the_checkpoint_is_refused(run_cli, run_copy):
    best = run_copy / "best.ckpt"
    refused(
        run_cli,
        [run_copy],
        *("export", "--run", run_copy, "--onnx", best),
        fragments=(f"{best.resolve()}: output would overwrite an input file",),
    )


def test_split_over_an_image_is_refused(run_cli, dataset):
    image = dataset / "images" / f"{FIRST_ID}.png"
    refused(
        run_cli,
        [dataset],
        *("split", dataset, "--out", image),
        fragments=(f"{image.resolve()}: exists and is not a .json file; refusing to overwrite",),
    )


def test_inspect_json_over_an_image_is_refused(run_cli, dataset):
    image = dataset / "images" / f"{FIRST_ID}.png"
    refused(
        run_cli,
        [dataset],
        *("inspect", dataset, "--json", image),
        fragments=("exists and is not a .json file",),
    )


def test_evaluate_json_over_an_image_is_refused(run_cli, trained_run, dataset, tmp_path):
    image = dataset / "images" / f"{FIRST_ID}.png"
    split = tmp_path / "split.json"
    save_split({"train": ["subj00_0001"], "val": ["subj00_0002"], "test": [FIRST_ID]}, split)
    refused(
        run_cli,
        [dataset],
        *("evaluate", "--run", trained_run, "--data", dataset, "--split", split),
        *("--json", image),
        fragments=("exists and is not a .json file",),
    )


def test_augment_preview_over_an_image_is_refused(run_cli, dataset):
    image = dataset / "images" / f"{FIRST_ID}.png"
    refused(
        run_cli,
        [dataset],
        *("augment-preview", "--data", dataset, "--out", image, "--set=data.input_size=[64, 64]"),
        fragments=(f"{FIRST_ID}.png", "input"),
    )


def test_train_into_the_data_folder_is_refused(run_cli, dataset):
    out = dataset / "images" / "run"
    settings = [f"--set={item}" for item in TINY_OVERRIDES]
    refused(
        run_cli,
        [dataset],
        *("train", "--data", dataset, "--out", out, *settings, "--set=training.max_steps=1"),
        "--quiet",
        fragments=("images/run", "lies inside the"),
    )
