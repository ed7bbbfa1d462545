"""The console and the HTML report lay out the same rows (one source of the descriptions)."""

from __future__ import annotations

import html

from rich.console import Console

from sparseg.evaluation.aggregate import CONVENTIONS
from sparseg.reporting.rows import OTHER_METRICS, decision_rows, metric_rows
from sparseg.reporting.sections import metrics_table, tuning_section
from sparseg.reporting.tables import decisions_table, format_metrics_table

SUMMARY = {
    "n_images": 3,
    "n_empty_truth": 1,
    "n_empty_pred": 1,
    "object_iou": 0.3,
    "hd95_count": 2,
    **dict.fromkeys(CONVENTIONS, 0.5),
    **dict.fromkeys(OTHER_METRICS, 0.25),
    "ci": {"dice_pooled": [0.1, 0.9]},
}
PAYLOAD = {
    "decisions": [
        {
            "step": "tta",
            "setting": "8-fold D4 TTA",
            "dice_without": 0.5,
            "dice_with": 0.6,
            "kept": True,
        }
    ],
    "baseline_val_dice": 0.5,
    "tuned_val_dice": 0.6,
    "n_val_images": 2,
    "criterion": "x",
}


def console_text(table) -> str:
    console = Console(record=True, width=400)
    console.print(table)
    return console.export_text()


def test_every_metric_row_reaches_both_tables() -> None:
    rows = metric_rows(SUMMARY)
    assert [row[0] for row in rows] == [*CONVENTIONS, *OTHER_METRICS]
    assert rows[3][:3] == ("dice_pooled", "0.500", "0.100 – 0.900")
    assert "matched one-to-one at IoU ≥ 0.3" in rows[-1][3] and "the 2 images" in rows[-3][3]
    text, page = console_text(format_metrics_table(SUMMARY)), metrics_table(SUMMARY, "test")
    for name, value, interval, meaning in rows:
        assert meaning in text and html.escape(meaning, quote=False) in page
        assert f"<td><code>{name}</code></td><td>{value}</td><td>{interval}</td>" in page


def test_every_decision_row_reaches_both_tables(tmp_path) -> None:
    import json

    (tmp_path / "inference.json").write_text(json.dumps(PAYLOAD))
    (row,) = decision_rows(PAYLOAD)
    assert row == ("tta", "8-fold D4 TTA", "0.5000", "0.6000", "yes")
    text, page = console_text(decisions_table(PAYLOAD)), tuning_section(tmp_path)
    assert all(cell in text for cell in row)
    assert "".join(f"<td>{cell}</td>" for cell in row) in page
