import pytest
import torch

from sparseg.training.setup import build_optimizer, resolve_precision
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
