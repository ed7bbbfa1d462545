import pytest
import torch

from sparseg.training.setup import (
    POS_WEIGHT_RANGE,
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


def test_auto_pos_weight_is_the_clipped_background_ratio(synthetic_data) -> None:
    from sparseg.data.io import read_mask
    from sparseg.data.pairs import discover_pairs

    pairs = discover_pairs(synthetic_data)
    masks = [read_mask(p.mask) for p in pairs]
    foreground = sum(int(m.sum()) for m in masks)
    total = sum(m.size for m in masks)
    expected = min(max((total - foreground) / foreground, POS_WEIGHT_RANGE[0]), POS_WEIGHT_RANGE[1])
    assert auto_pos_weight(pairs, None) == pytest.approx(expected)
