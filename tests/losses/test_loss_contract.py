"""Every registered loss keeps the same contract (timm style: tested by construction); adding
a loss is one ``LOSS_REGISTRY`` entry plus its name in the schema's ``LOSS_TERMS``."""

from __future__ import annotations

import pytest
import torch

from sparseg.config import LossConfig
from sparseg.config.schema import LOSS_TERMS
from sparseg.losses import LOSS_REGISTRY, build_loss


def targets() -> torch.Tensor:
    target = torch.zeros(2, 1, 16, 16)
    target[0, :, 4:10, 4:10] = 1.0  # the second image is empty
    return target


def test_the_registry_holds_exactly_the_schemas_loss_terms() -> None:
    assert set(LOSS_REGISTRY) == set(LOSS_TERMS)


@pytest.mark.parametrize("name", sorted(LOSS_REGISTRY))
class TestLossTerm:
    def loss(self, name: str) -> torch.nn.Module:
        return build_loss(LossConfig(terms={name: 1.0}, pos_weight=2.0))

    def test_a_finite_scalar_with_a_gradient(self, name) -> None:
        logits = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))
        logits.requires_grad_(True)
        value = self.loss(name)(logits, targets())
        assert value.ndim == 0 and torch.isfinite(value)
        value.backward()
        assert logits.grad is not None and logits.grad.abs().sum() > 0

    def test_right_predictions_cost_less_than_wrong_ones(self, name) -> None:
        target = targets()
        right, wrong = (target * 2 - 1) * 6, (1 - target * 2) * 6
        loss = self.loss(name)
        assert loss(right, target) < loss(wrong, target)

    def test_an_empty_batch_is_finite(self, name) -> None:
        value = self.loss(name)(torch.zeros(2, 1, 8, 8), torch.zeros(2, 1, 8, 8))
        assert torch.isfinite(value)
