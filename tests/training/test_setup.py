import pytest
import torch

from sparseg.data.pos_weight import pos_weight_from_counts
from sparseg.training.setup import (
    auto_pos_weight,
    build_optimizer,
    resolve_precision,
)
from tests.helpers import tiny_config


@pytest.mark.parametrize(
    ("name", "kind"),
    [("adamw", torch.optim.AdamW), ("adam", torch.optim.Adam), ("sgd", torch.optim.SGD)],
)
def test_optimizer_follows_the_config(name, kind) -> None:
    config = tiny_config(
        f"training.optimizer={name}", "training.lr=0.01", "training.weight_decay=0.1"
    )
    optimizer = build_optimizer(config, [torch.nn.Parameter(torch.zeros(2))])
    assert type(optimizer) is kind
    group = optimizer.param_groups[0]
    assert (group["lr"], group["weight_decay"]) == (0.01, 0.1)


def test_precision_is_full_on_cpu_unless_asked() -> None:
    assert resolve_precision(tiny_config("training.precision=auto")) == "32-true"
    assert resolve_precision(tiny_config("training.precision=bf16-mixed")) == "bf16-mixed"


def test_auto_pos_weight_is_the_rule_over_the_training_masks(synthetic_data) -> None:
    from sparseg.data.io import read_mask
    from sparseg.data.pairs import discover_pairs

    pairs = discover_pairs(synthetic_data)
    masks = [read_mask(p.mask) for p in pairs]
    foreground = sum(int(m.sum()) for m in masks)
    total = sum(m.size for m in masks)
    assert auto_pos_weight(pairs, None) == pos_weight_from_counts(foreground, total)


def test_auto_pos_weight_without_foreground_is_unweighted_as_inspect_proposes(tmp_path) -> None:
    import numpy as np
    from PIL import Image

    from sparseg.data.pairs import discover_pairs

    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / folder / "a.png")
    assert auto_pos_weight(discover_pairs(tmp_path), None) is None
