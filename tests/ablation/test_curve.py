"""The time–quality curve: budgets parsed, one sweep per budget, the curve and its reading built
from the sweeps' ablation.csv files alone, and a tiny real curve end to end."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from sparseg.ablation import SweepRow, SweepSettings
from sparseg.ablation.curve import (
    CurvePoint,
    budget_folder,
    crossing_reading,
    parse_budgets,
    render_curve_markdown,
    run_curve,
    write_curve,
)
from sparseg.ablation.rows import write_csv
from sparseg.data.synthetic import synthesize
from sparseg.errors import SparsegError
from sparseg.run_layout import HEADLINE_METRIC
from tests.helpers import tiny_base

# light: 0.50 at both budgets; heavy: behind at 2 min, clearly ahead at 5 (seeds paired)
SCORES = {
    ("light", 2.0): [0.50, 0.52, 0.48],
    ("heavy", 2.0): [0.30, 0.35, 0.28],
    ("light", 5.0): [0.50, 0.52, 0.48],
    ("heavy", 5.0): [0.60, 0.63, 0.57],
}


def write_sweeps(out: Path, converged: int = 1) -> None:
    for minutes in (2.0, 5.0):
        rows = [
            SweepRow(
                stage=stage,
                slug=stage,
                seed=seed,
                status="done",
                scores={HEADLINE_METRIC: SCORES[(stage, minutes)][seed]},
                steps=100.0 * minutes,
                converged=float(converged),
            )
            for stage in ("light", "heavy")
            for seed in range(3)
        ]
        rows.append(SweepRow(stage="heavy", slug="heavy", seed=3, status="failed"))
        budget_folder(out, minutes).mkdir(parents=True)
        write_csv(budget_folder(out, minutes) / "ablation.csv", rows)


def test_budgets_are_parsed_sorted_and_checked() -> None:
    assert parse_budgets("15, 2,5,2") == [2.0, 5.0, 15.0]
    for bad in ("", "2,x", "0,5", "-1"):
        with pytest.raises(SparsegError, match="--budgets"):
            parse_budgets(bad)


def test_curve_is_built_from_the_budgets_csv_files(tmp_path: Path) -> None:
    write_sweeps(tmp_path, converged=0)
    paths = write_curve(tmp_path, [2.0, 5.0])
    assert [path.name for path in paths] == ["curve.csv", "curve.md", "curve.png"]
    csv_lines = paths[0].read_text().splitlines()
    assert len(csv_lines) == 1 + 12  # failed runs are not points
    assert csv_lines[1].startswith("2,light,0,0.5,200")
    text = paths[1].read_text()
    light_row = next(line for line in text.splitlines() if line.startswith("| light |"))
    # mean 0.500, t-interval 0.5 ± 4.303 × 0.02/√3 = [0.450, 0.550], 200 steps, not converged
    assert "0.500 [0.450, 0.550] (200)*" in light_row and "(500)*" in light_row
    assert "**heavy** vs **light**: overtakes it from 5 min" in text
    assert "2 min -0.190" in text and "5 min +0.100" in text
    assert paths[2].stat().st_size > 0


def test_curve_reads_every_pair_of_stages_not_only_neighbours() -> None:
    rows = [
        CurvePoint(
            5.0,
            SweepRow(
                stage=stage,
                slug=stage,
                seed=seed,
                status="done",
                scores={HEADLINE_METRIC: score + 0.01 * seed},
                steps=100,
                converged=1,
            ),
        )
        for stage, score in (("basic", 0.4), ("budget", 0.5), ("recipe", 0.45))
        for seed in range(3)
    ]
    text = render_curve_markdown(rows, ["basic", "budget", "recipe"], [5.0])
    readings = [line for line in text.splitlines() if line.startswith("- **")]
    assert [line.split(":")[0] for line in readings] == [
        "- **budget** vs **basic**",
        "- **recipe** vs **basic**",
        "- **recipe** vs **budget**",
    ]
    assert "5 min +0.050" in readings[1]  # recipe − basic, paired by seed
    assert "(100) |" in text and "†" not in text.split("## Reading")[0].split("never beaten")[1]
    rows[0].row.stalled = 1.0  # one basic run stalled at its start
    text = render_curve_markdown(rows, ["basic", "budget", "recipe"], [5.0])
    assert "| basic | 0.410 [0.385, 0.435] (100)† |" in text
    rows[0].row.stalled, rows[1].row.blank = 0.0, 1.0  # a basic run that predicted nothing
    text = render_curve_markdown(rows, ["basic", "budget", "recipe"], [5.0])
    assert "| basic | 0.410 [0.385, 0.435] (100)† |" in text


def test_crossing_reading_names_what_happened() -> None:
    def point(minutes: float, seed: int, score: float) -> CurvePoint:
        row = SweepRow("a", "a", seed, status="done", scores={HEADLINE_METRIC: score})
        return CurvePoint(minutes, row)

    def scores(gains: dict[float, list[float]]) -> dict:
        table = {}
        for minutes, values in gains.items():
            table[("a", minutes)] = {s: point(minutes, s, 0.5) for s in range(len(values))}
            table[("b", minutes)] = {s: point(minutes, s, 0.5 + v) for s, v in enumerate(values)}
        return table

    behind = scores({2.0: [-0.2, -0.21, -0.19], 5.0: [-0.1, -0.12, -0.09]})
    assert "stays behind at every budget measured" in crossing_reading(behind, "a", "b", [2, 5])
    noisy = scores({2.0: [-0.1, 0.2, 0.01]})
    assert "ahead somewhere, but within noise" in crossing_reading(noisy, "a", "b", [2])
    assert "no paired runs yet" in crossing_reading({}, "a", "b", [2])


def test_curve_sweeps_each_budget_in_its_own_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    synthesize(data, n=8, size=(64, 64), fg=0.04, empty=0.2, seed=0)
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({"model": {"encoder": "resnet18"}}))
    ladder = tmp_path / "ladder.yaml"
    ladder.write_text(yaml.safe_dump({"base": "base.yaml", "stages": [{"name": "basic"}]}))
    settings = SweepSettings(seeds=1, emit_commands=True, quiet=True)
    results = run_curve(data, ladder, tmp_path / "curve", [5.0, 2.0], settings)
    trains = [shlex.split(r.commands[0].splitlines()[1].split(" && ")[0]) for r in results]
    assert [t[t.index("--out") + 1] for t in trains] == [
        str(tmp_path / "curve" / "5min" / "01-basic" / "seed0"),
        str(tmp_path / "curve" / "2min" / "01-basic" / "seed0"),
    ]
    assert "training.max_minutes=5" in trains[0] and "training.max_minutes=2" in trains[1]
    assert not (tmp_path / "curve" / "curve.md").exists()  # printing commands draws nothing
    with pytest.raises(SparsegError, match="--budgets and --minutes-per-run"):
        run_curve(data, ladder, tmp_path / "x", [2.0], SweepSettings(minutes_per_run=1))


TINY = tiny_base()


def test_a_tiny_real_curve_runs_end_to_end(tmp_path: Path) -> None:
    data = tmp_path / "data"
    synthesize(data, n=16, size=(64, 64), fg=0.04, empty=0.2, seed=0)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    stages = [
        {"name": "basic"},
        {"name": "+ removal", "overrides": {"inference.postprocess.min_object_size": 3}},
    ]
    ladder = tmp_path / "ladder.yaml"
    ladder.write_text(yaml.safe_dump({"base": "tiny.yaml", "stages": stages}))
    settings = SweepSettings(seeds=1, quiet=True, steps_per_run=2)
    results = run_curve(data, ladder, tmp_path / "curve", [0.5, 1.0], settings)
    assert not any(result.failed for result in results)
    assert (tmp_path / "curve" / "curve.png") in results[-1].outputs
    text = (tmp_path / "curve" / "curve.md").read_text()
    assert "| basic | " in text and "| + removal | " in text and "0.5 min" in text
    assert "**+ removal** vs **basic**:" in text
    assert len((tmp_path / "curve" / "curve.csv").read_text().splitlines()) == 1 + 4
