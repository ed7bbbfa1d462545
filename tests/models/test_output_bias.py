"""The logit heads' initial bias (``model.output_bias``) and the normalisation swap."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sparseg.config import ModelConfig
from sparseg.data.foreground import ForegroundCounts, prior_logit
from sparseg.models import build_model

COUNTS = ForegroundCounts(foreground_pixels=3, pixels=100, images_with_foreground=2, images=5)


def small(**overrides) -> ModelConfig:
    return ModelConfig(encoder="resnet18", decoder_channels=[32, 16, 16, 8, 8], **overrides)


def test_every_logit_head_starts_at_the_training_prior() -> None:
    config = small(deep_supervision=True, presence_head=True)
    net = build_model(config, in_channels=1, foreground=COUNTS)
    heads = [net.model.segmentation_head[0], *net.aux_heads]
    assert all(torch.allclose(h.bias, torch.tensor(prior_logit(0.03))) for h in heads)
    presence = next(m for m in net.model.classification_head if isinstance(m, nn.Linear))
    assert torch.allclose(presence.bias, torch.tensor(prior_logit(0.4)))
    with torch.no_grad():  # zero features: the network starts out at the foreground share
        head = net.model.segmentation_head
        probability = torch.sigmoid(head(torch.zeros(1, head[0].in_channels, 4, 4)))
    assert probability.mean().item() == pytest.approx(0.03, abs=1e-6)


def test_zero_or_no_statistics_keep_smps_head() -> None:
    for net in (
        build_model(small(output_bias="zero"), in_channels=1, foreground=COUNTS),
        build_model(small(), in_channels=1),  # about to load trained weights
    ):
        assert torch.all(net.model.segmentation_head[0].bias == 0)


def test_kaiming_init_does_not_undo_the_prior() -> None:
    net = build_model(small(init="kaiming"), in_channels=1, foreground=COUNTS)
    assert math.isclose(net.model.segmentation_head[0].bias.item(), prior_logit(0.03), rel_tol=1e-6)


def test_instance_norm_replaces_every_batch_norm_and_keeps_the_affine_part() -> None:
    net = build_model(small(norm="instance"), in_channels=2)
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._NormBase)]
    assert norms and all(isinstance(m, nn.InstanceNorm2d) and m.affine for m in norms)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    net.train()  # instance norm does not depend on the rest of the batch
    images = torch.randn(3, 2, 64, 64, generator=torch.Generator().manual_seed(0))
    alone = net(images[:1])
    together = net(images)[:1]
    assert torch.allclose(alone, together, atol=1e-4)  # float sums in another order


def test_the_prior_removes_bces_first_push_of_every_pixel_to_background() -> None:
    """The cause of the committed blank runs: at bias 0 every pixel starts at 0.5, and BCE's
    first gradient drives the whole head down at once (mean p - y ≈ 0.47 on 3 % foreground);
    started at the prior, that push is gone."""
    torch.manual_seed(0)
    images = torch.randn(4, 1, 64, 64)
    masks = torch.zeros(4, 1, 64, 64)
    masks[:, :, 30:41, 30:41] = 1.0  # 121 / 4096 ≈ 3 % of every image
    counts = ForegroundCounts(int(masks.sum()), masks.numel(), 4, 4)
    pushes = {}
    for bias in ("zero", "prior"):
        torch.manual_seed(0)
        net = build_model(small(output_bias=bias), in_channels=1, foreground=counts)
        loss = nn.functional.binary_cross_entropy_with_logits(net(images), masks)
        loss.backward()
        pushes[bias] = net.model.segmentation_head[0].bias.grad.item()
    assert pushes["zero"] > 0.3  # a strong push towards background for every pixel
    assert abs(pushes["prior"]) < 0.1 * pushes["zero"]
