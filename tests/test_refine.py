"""Encode-time latent refinement of nc-photo (nccli.models.image.refine)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from nccli import api
from nccli.codecs.progress import reporting
from nccli.container import loads
from nccli.errors import UsageError
from nccli.metrics.image import psnr
from nccli.models import heap
from nccli.models.image.refine import learning_rate, refine_latents, soft_round
from nccli.models.image.variable_rate import lambda_at
from nccli.zoo import embedded

CUPS = Path(__file__).resolve().parent / "fixtures" / "photos" / "cups.png"
LEVEL = 2.0


@pytest.fixture(scope="module")
def cups() -> np.ndarray:
    """A 100x70 crop of the cups photo (not a multiple of the model's 64)."""
    return np.array(Image.open(CUPS).convert("RGB"))[120:190, 180:280]


def tile(pixels: np.ndarray) -> torch.Tensor:
    """The image as the codec gives it to its tile encoder: edge-padded to 64."""
    x = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255
    return F.pad(x, (0, -x.shape[3] % 64, 0, -x.shape[2] % 64), mode="replicate")


def objective(model, x, y, z, gains, valid) -> float:
    """lambda * 255^2 * MSE (valid region) + bpp of real coding of y and z."""
    chunks, shape = model.compress_latents(y, z, gains=gains)
    x_hat = model.decompress(chunks, shape, gains=gains)[..., : valid[0], : valid[1]]
    mse = float(torch.mean((x_hat - x[..., : valid[0], : valid[1]]) ** 2))
    bpp = sum(len(c) for c in chunks) * 8 / (valid[0] * valid[1])
    return float(lambda_at(torch.tensor([LEVEL]))) * 255**2 * mse + bpp


def test_refinement_lowers_the_real_objective_deterministically(cups):
    model, _ = embedded.load("nc-photo")
    x, valid = tile(cups), cups.shape[:2]
    gains = model.gains(torch.tensor([LEVEL]))
    lam = float(lambda_at(torch.tensor([LEVEL])))
    y, z = model.analyse(x, gains)
    refined = refine_latents(model, x, y, z, gains, lam, 40, valid, seed=3)
    again = refine_latents(model, x, y, z, gains, lam, 40, valid, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(refined, again, strict=True))
    before = objective(model, x, y, z, gains, valid)
    assert objective(model, x, *refined, gains, valid) < 0.97 * before
    assert all(p.grad is None for p in model.parameters())


def test_padding_does_not_steer_refinement(cups):
    """Only the image counts toward distortion: garbage in the padding changes nothing."""
    model, _ = embedded.load("nc-photo")
    x, valid = tile(cups), cups.shape[:2]
    noisy = x.clone()
    noisy[..., valid[0] :, :] = torch.rand_like(noisy[..., valid[0] :, :])
    gains = model.gains(torch.tensor([LEVEL]))
    y, z = model.analyse(x, gains)
    results = [refine_latents(model, t, y, z, gains, 0.01, 12, valid) for t in (x, noisy)]
    assert all(torch.equal(a, b) for a, b in zip(*results, strict=True))


def test_steps_run_in_one_reused_heap_with_the_same_result(cups, monkeypatch):
    """The steps reuse freed memory (scripts/bench_heap.py times it) and refine exactly as
    under glibc's default policy."""
    model, _ = embedded.load("nc-photo")
    x, valid = tile(cups), cups.shape[:2]
    gains = model.gains(torch.tensor([LEVEL]))
    y, z = model.analyse(x, gains)
    reused_heap, blocks = heap.reused_heap, []

    @contextlib.contextmanager
    def counted():
        blocks.append(1)
        with reused_heap():
            yield

    results = []
    for policy in (contextlib.nullcontext, counted):
        monkeypatch.setattr(heap, "reused_heap", policy)
        results.append(refine_latents(model, x, y, z, gains, 0.01, 6, valid))
    assert len(blocks) == 1
    assert all(torch.equal(a, b) for a, b in zip(*results, strict=True))


def test_soft_rounding_lies_between_the_neighbours_and_hardens():
    v = torch.linspace(-3, 3, 1001, requires_grad=True)
    generator = torch.Generator().manual_seed(0)
    soft = soft_round(v, 0.5, generator)
    assert torch.all((soft >= torch.floor(v)) & (soft <= torch.floor(v) + 1))
    soft.sum().backward()
    assert torch.isfinite(v.grad).all() and v.grad.abs().sum() > 0
    cold = soft_round(v.detach(), 1e-3, generator)
    away_from_halves = (v - torch.floor(v) - 0.5).abs() > 0.05
    assert torch.allclose(cold[away_from_halves], torch.round(v.detach())[away_from_halves])


def test_default_effort_refines_and_decodes_as_usual_with_fewer_bits_or_more_quality(cups):
    plain = api.encode(cups, "nc-photo", quality=LEVEL + 1, effort="fast")
    refined = api.encode(cups, "nc-photo", quality=LEVEL + 1)
    assert loads(refined).header.params["effort"] == "default"
    assert loads(plain).header.params["effort"] == "fast"
    thirty = api.encode(cups, "nc-photo", quality=LEVEL + 1, effort="30")
    assert list(loads(refined).payloads()) == list(loads(thirty).payloads())
    quality = [psnr(cups, api.decode(data)[0]) for data in (plain, refined)]
    assert len(refined) < len(plain) or quality[1] > quality[0]
    assert len(refined) <= 1.02 * len(plain) and quality[1] > quality[0] - 0.2


def test_short_runs_take_larger_steps():
    """30 steps (the default effort) at 2e-2, 300 (max) at 5e-3: measured best for each."""
    assert learning_rate(30) == 2e-2 and learning_rate(300) == 5e-3
    assert learning_rate(1) == 2e-2 and learning_rate(3000) == 5e-4


@pytest.mark.parametrize("effort", ["fastest", "-1", "100001", "1.5", "", "maximum"])
def test_effort_out_of_range_is_a_usage_error(cups, effort):
    with pytest.raises(UsageError, match="effort must be fast, default, max or a number"):
        api.encode(cups, "nc-photo", effort=effort)


def test_progress_runs_forward_over_the_tiles(cups):
    seen = []
    with reporting(lambda done, status: seen.append((done, status))):
        api.encode(cups, "nc-photo", effort="10", tile=64)
    fractions = [done for done, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert seen[0][1].startswith("tile 1/4: step 1/10") and seen[-1][1].startswith("tile 4/4")
