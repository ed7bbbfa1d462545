"""ablation.md / ablation.png rendered from a hand-made ablation.csv and plan."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest

from sparseg.ablation import SweepRow, render_ablation
from sparseg.ablation.manifest import SweepManifest
from sparseg.ablation.outputs import summarize
from sparseg.ablation.rows import COLUMNS, read_csv, write_csv
from sparseg.errors import SparsegError
from sparseg.run_layout import HEADLINE_METRIC as HEADLINE

PLAN = {
    "ladder": "/ladders/field-guide.yaml",
    "mode": "cumulative",
    "data": "/data/nerves",
    "split": "/out/split.json",
    "minutes_per_run": 5.0,
    "seeds": [0, 1, 2],
    "stages": [
        {"name": "basic", "slug": "01-basic", "claim": [0.2, 0.3], "compare_to": None},
        {"name": "+ aug", "slug": "02-aug", "claim": [0.5, 0.7], "compare_to": "01-basic"},
        {
            "name": "+ weights",
            "slug": "03-weights",
            "claim": [0.85, 0.92],
            "skipped": "no weights here",
            "compare_to": "02-aug",
        },
        {
            "name": "+ crf",
            "slug": "04-crf",
            "claim_gain": [0.01, 0.02],
            "compare_to": "02-aug",
            "reuses": "02-aug",
            "note": "CRF forced on after tuning.",
        },
    ],
}
HEADLINES = {
    "01-basic": [0.30, 0.40, 0.50],
    "02-aug": [0.35, 0.42, 0.58],  # paired differences to basic: 0.05, 0.02, 0.08
    "04-crf": [0.365, 0.435, None],  # +0.015 twice; seed 2 failed
}


render_from_csv = partial(render_ablation, from_csv=True)


def hand_made_rows() -> list[SweepRow]:
    rows = []
    for stage in PLAN["stages"]:
        for seed in PLAN["seeds"]:
            row = SweepRow(stage["name"], stage["slug"], seed, status="")
            value = HEADLINES.get(stage["slug"], [None] * 3)[seed]
            if stage.get("skipped"):
                row.status = f"skipped: {stage['skipped']}"
            elif value is None:
                row.status, row.steps = "failed: train exited with 1: error: x", 7.0
            else:
                row.status = "done"
                row.scores = {
                    HEADLINE: value,
                    "dice_nonempty_truth": value / 2,
                    "dice_ignore_empty": value,
                    "dice_pooled": 0.6,
                    "object_f1": 0.1 * (seed + 1),
                }
                row.n_test_images, row.steps = 40, 100.0 + seed
                row.images_seen, row.wall_seconds = 1600.0, 300.5
            rows.append(row)
    return rows


@pytest.fixture
def sweep_dir(tmp_path: Path) -> Path:
    write_csv(tmp_path / "ablation.csv", hand_made_rows())
    (tmp_path / "ablation_plan.json").write_text(json.dumps(PLAN))
    return tmp_path


def test_csv_round_trip_keeps_numbers_and_gaps(sweep_dir: Path) -> None:
    rows = read_csv(sweep_dir / "ablation.csv")
    header = (sweep_dir / "ablation.csv").read_text().splitlines()[0]
    assert header == ",".join(COLUMNS)
    assert len(rows) == 12
    assert rows[1].score(HEADLINE) == pytest.approx(0.4) and rows[1].seed == 1
    assert rows[6].status == "skipped: no weights here" and math.isnan(rows[6].score(HEADLINE))
    assert rows[11].steps == 7.0 and math.isnan(rows[11].score("object_f1"))


def test_markdown_has_means_gains_claims_and_reasons(sweep_dir: Path) -> None:
    render_from_csv(sweep_dir)
    text = (sweep_dir / "ablation.md").read_text()
    # basic: 0.3/0.4/0.5 → 0.400 ± 0.100; object F1 0.1/0.2/0.3 → 0.200 ± 0.100
    assert "| basic | 3/3 | 0.400 ± 0.100 | 0.200 ± 0.050 | 0.400 ± 0.100 | 0.600 ± 0.000 " in text
    assert "| 0.200 ± 0.100 |" in text
    # + aug: mean 0.45, sd sqrt(0.0139) = 0.118; gain 0.05 ± 4.3027·0.03/√3 = [-0.025, +0.125]
    assert "| + aug | 3/3 | 0.450 ± 0.118 |" in text
    assert (
        "| + aug | 0.450 | +0.050 [-0.025, +0.125] (n=3) | basic | 0.500 – 0.700 | below |" in text
    )
    assert "| basic | 0.400 | — | — | 0.200 – 0.300 | above |" in text
    # + crf: two pairs with the same difference; compared with + aug, not with the skipped stage
    assert (
        "| + crf | 0.400 | +0.015 [+0.015, +0.015] (n=2) | + aug | — | n/a | +0.010 – +0.020 "
        "| inside |" in text
    )
    assert "| + crf | 2/3 |" in text
    assert "| + weights | skipped | — | — | 0.850 – 0.920 | n/a | — | n/a |" in text
    assert "- **+ weights**: no weights here" in text
    assert "- **+ crf**, seed 2: failed: train exited with 1: error: x" in text
    assert "- **+ crf**: CRF forced on after tuning." in text
    assert "evaluates the models trained for **+ aug**" in text
    assert "same 40 images" in text and "a budget of 5 min wall-clock per training run" in text


def test_runs_still_learning_make_a_missed_claim_budget_bound(tmp_path: Path) -> None:
    rows = hand_made_rows()
    for row in rows:
        if row.status == "done":
            # basic converged everywhere; + aug still climbing on seed 1
            still_learning = row.slug == "02-aug" and row.seed == 1
            row.epochs, row.converged = 12.0, 0.0 if still_learning else 1.0
    write_csv(tmp_path / "ablation.csv", rows)
    (tmp_path / "ablation_plan.json").write_text(json.dumps(PLAN))
    render_from_csv(tmp_path)
    text = (tmp_path / "ablation.md").read_text()
    assert (
        "| + aug | 0.450 | +0.050 [-0.025, +0.125] (n=3) | basic | 0.500 – 0.700 | budget-bound |"
        in text
    )
    assert "| 101 | 12 | 3/3 |" in text  # basic: steps 100/101/102, epochs, all converged
    assert "| 101 | 12 | 2/3 (budget-bound) |" in text
    assert "did not hold" not in text


def test_runs_that_stalled_or_were_blank_are_counted_beside_convergence(tmp_path: Path) -> None:
    rows = hand_made_rows()
    for row in rows:
        if row.status == "done":
            stalled = row.slug == "01-basic" and row.seed == 2
            blank = row.slug == "02-aug" and row.seed == 0
            row.epochs, row.converged, row.stalled = 12.0, 1.0, 1.0 if stalled else 0.0
            row.blank = 1.0 if blank else 0.0
            row.restarts = 2.0 if blank else 0.0
    write_csv(tmp_path / "ablation.csv", rows)
    (tmp_path / "ablation_plan.json").write_text(json.dumps(PLAN))
    render_from_csv(tmp_path)
    text = (tmp_path / "ablation.md").read_text()
    basic = next(line for line in text.splitlines() if line.startswith("| basic | 3/3 |"))
    assert basic.endswith("| 3/3, 1 stalled |")
    aug = next(line for line in text.splitlines() if line.startswith("| + aug | 3/3 |"))
    assert aug.endswith("| 3/3, 1 blank, 1 restarted |")
    assert "stalled: runs whose best validation came in the first 10%" in text
    assert "blank: runs that predicted no foreground on any test image" in text
    assert "or under 10% of its target pixels (nearly blank" in text
    assert "restarted: runs whose network the blank guard restarted" in text


def test_leave_one_out_wording(sweep_dir: Path) -> None:
    plan = {**PLAN, "mode": "leave_one_out"}
    (sweep_dir / "ablation_plan.json").write_text(json.dumps(plan))
    render_from_csv(sweep_dir)
    assert "the full recipe (first stage)" in (sweep_dir / "ablation.md").read_text()


def test_chart_is_a_png(sweep_dir: Path) -> None:
    outputs = render_from_csv(sweep_dir)
    assert [p.name for p in outputs] == ["ablation.csv", "ablation.md", "ablation.png"]
    assert (sweep_dir / "ablation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_summaries_pair_only_seeds_both_stages_finished() -> None:
    summaries = {
        s.stage.slug: s for s in summarize(hand_made_rows(), SweepManifest.from_json(PLAN))
    }
    assert summaries["04-crf"].gain_pairs == 2
    assert summaries["04-crf"].gain == pytest.approx((0.015, 0.015, 0.015))
    assert summaries["01-basic"].gain is None
    assert summaries["03-weights"].gain is None


def test_missing_csv_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "ablation_plan.json").write_text(json.dumps(PLAN))
    with pytest.raises(SparsegError, match=r"ablation\.csv: file not found"):
        render_from_csv(tmp_path)


def test_runs_trained_at_another_precision_are_named(tmp_path: Path) -> None:
    """A sweep finished on another machine: a GPU's bf16 runs beside a CPU's float32 ones, and
    an ensemble whose folds trained on both."""
    plan = {**PLAN, "stages": PLAN["stages"][:2]}
    plan["stages"][1] = {**plan["stages"][1], "name": "+ ensemble"}
    trained_at = {  # (slug, seed) -> the precision of each training in the run folder
        ("01-basic", 0): {".": "bf16-mixed"},
        ("01-basic", 1): {".": "bf16-mixed"},
        ("01-basic", 2): {".": "32-true"},
        ("02-aug", 0): {"fold_0": "bf16-mixed", "fold_1": "bf16-mixed"},
        ("02-aug", 1): {"fold_0": "32-true", "fold_1": "bf16-mixed"},
    }
    for (slug, seed), folders in trained_at.items():
        run = tmp_path / slug / f"seed{seed}"
        for folder, precision in folders.items():
            (run / folder).mkdir(parents=True, exist_ok=True)
            summary = {"steps": 10, "precision": precision}
            (run / folder / "train_summary.json").write_text(json.dumps(summary))
        (run / "evaluation.json").write_text(json.dumps({"n_images": 4, HEADLINE: 0.5}))
    (tmp_path / "ablation_plan.json").write_text(json.dumps(plan))
    render_ablation(tmp_path)
    rows = read_csv(tmp_path / "ablation.csv")
    assert [row.precision for row in rows][:5] == [
        "bf16-mixed",
        "bf16-mixed",
        "32-true",
        "bf16-mixed",
        "32-true+bf16-mixed",
    ]
    assert rows[5].precision == ""  # seed 2 of the ensemble never trained
    text = (tmp_path / "ablation.md").read_text()
    section = text.split("## Trained at another precision")[1].split("##")[0]
    assert "Most runs trained at `bf16-mixed`" in section
    assert "- **basic**, seed 2: `32-true`" in section
    assert "- **+ ensemble**, seed 1: `32-true+bf16-mixed`" in section
    assert "seed 0" not in section
    render_from_csv(tmp_path)  # the csv round trip keeps the column
    assert "## Trained at another precision" in (tmp_path / "ablation.md").read_text()
    # one precision throughout: no such section
    rows = [replace(row, precision="32-true") for row in rows]
    write_csv(tmp_path / "ablation.csv", rows)
    render_from_csv(tmp_path)
    assert "## Trained at another precision" not in (tmp_path / "ablation.md").read_text()
