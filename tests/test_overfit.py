"""The overfitted image model (Cool-chic style): causal contexts, a normalised entropy model,
and fitting that trades rate for quality with lambda, deterministically."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from nccli.models.image.overfit import (
    CONTEXT,
    OverfitModel,
    contexts,
    evaluate,
    fit,
    latent_bits,
)


@pytest.fixture
def crop(photo_path) -> torch.Tensor:
    pixels = np.asarray(Image.open(photo_path).convert("RGB"))[100:164, 200:264]
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).float() / 255


def test_contexts_hold_only_earlier_positions():
    latent = torch.randn(1, 1, 6, 7)
    before = contexts(latent)
    assert before.shape == (1, len(CONTEXT), 6, 7) and len(CONTEXT) == 12
    changed = latent.clone()
    changed[..., 3, 4] += 1
    moved = (contexts(changed) != before).any(dim=1)[0]
    rows, cols = torch.nonzero(moved, as_tuple=True)
    assert len(rows) == len(CONTEXT)
    assert all((r, c) > (3, 4) for r, c in zip(rows.tolist(), cols.tolist(), strict=True))
    assert not contexts(torch.zeros(1, 1, 3, 3)).any()  # zero beyond the borders


@pytest.mark.parametrize(("mean", "scale"), [(0.3, 2.0), (-5.2, 0.01), (0.0, 30.0)])
def test_discretised_laplace_sums_to_one(mean, scale):
    arm = _fixed(mean, scale)
    probabilities = [2 ** -float(latent_bits(torch.full((1, 1, 1, 1), float(v)), arm))
                     for v in range(-400, 401)]  # fmt: skip
    assert sum(probabilities) == pytest.approx(1, abs=1e-4)


def test_fitting_trades_rate_for_quality(crop):
    start = evaluate(OverfitModel(64, 64), crop)
    low = fit(OverfitModel(64, 64), crop, lam=0.001, steps=300)
    high = fit(OverfitModel(64, 64), crop, lam=0.02, steps=300)
    assert high.bpp > low.bpp > 0 and high.psnr > low.psnr > start.psnr + 5
    assert high.psnr > 24


def test_fitting_is_deterministic_for_a_seed(crop):
    reports = []
    first, second = OverfitModel(64, 64), OverfitModel(64, 64)
    for model in (first, second):
        reports.append(fit(model, crop, lam=0.01, steps=40, seed=3, report_every=20,
                           on_report=lambda r: None))  # fmt: skip
    assert reports[0] == reports[1]
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize(("height", "width"), [(5, 7), (1, 1), (70, 33)])
def test_any_size_and_a_flat_image_stay_finite(height, width):
    grey = torch.full((3, height, width), 0.4)
    report = fit(OverfitModel(height, width), grey, lam=0.01, steps=60)
    assert math.isfinite(report.bpp) and report.bpp >= 0
    assert report.psnr > 40


def _fixed(mean: float, scale: float) -> torch.nn.Module:
    """An 'ARM' that predicts one Laplace distribution whatever the context."""

    class Fixed(torch.nn.Module):
        def forward(self, context: torch.Tensor) -> torch.Tensor:
            shape = (1, 1, *context.shape[-2:])
            return torch.cat([torch.full(shape, mean), torch.full(shape, math.log(scale))], 1)

    return Fixed()
