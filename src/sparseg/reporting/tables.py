"""Rich tables printed by the CLI."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def decisions_table(payload: dict[str, Any]) -> Table:
    """``sparseg tune``'s decision table: validation Dice without and with each step."""
    table = Table(
        title=f"Inference tuning on {payload['n_val_images']} validation images "
        f"({payload['criterion']})"
    )
    for column in ("step", "best setting", "Dice without", "Dice with", "kept"):
        table.add_column(column)
    for row in payload["decisions"]:
        table.add_row(
            row["step"],
            row["setting"],
            f"{row['dice_without']:.4f}",
            f"{row['dice_with']:.4f}",
            "yes" if row["kept"] else "no",
        )
    table.caption = (
        f"validation Dice {payload['baseline_val_dice']:.4f} → {payload['tuned_val_dice']:.4f}"
    )
    return table
