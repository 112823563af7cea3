"""The overfitted image model (Cool-chic style): causal contexts, a normalised entropy model,
and fitting that trades rate for quality with lambda, deterministically."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from nccli.models.image import overfit
from nccli.models.image.overfit import (
    COLUMNS,
    CONTEXT_SIZE,
    ONE_HOT,
    PASSES,
    Fitting,
    OverfitModel,
    OverfitShape,
    evaluate,
    fit_best_start,
    full_contexts,
    laplace_bits,
    laplace_parameters,
    pass_contexts,
    pass_view,
    render,
    rounding_share,
    upsample,
)


@pytest.fixture
def crop(photo_path) -> torch.Tensor:
    pixels = np.asarray(Image.open(photo_path).convert("RGB"))[100:164, 200:264]
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).float() / 255


@pytest.mark.parametrize("number", range(len(PASSES)))
def test_a_pass_sees_only_earlier_passes_and_the_coarser_grid(number):
    latent, coarser = torch.randn(1, 1, 7, 9), torch.randn(1, 1, 4, 5)
    before = pass_contexts(latent, coarser, number)
    assert before.shape == (*pass_view(latent, number).shape[-2:], len(COLUMNS[number]))
    for later in range(number, len(PASSES)):  # same or later passes: not yet decoded
        changed = latent.clone()
        pass_view(changed, later).add_(torch.randn_like(pass_view(changed, later)))
        assert torch.equal(pass_contexts(changed, coarser, number), before)
    if number > 0:
        changed = latent.clone()
        pass_view(changed, number - 1).add_(1)
        assert not torch.equal(pass_contexts(changed, coarser, number), before)
    assert not torch.equal(pass_contexts(latent, coarser + 1, number), before)


@pytest.mark.parametrize("number", range(len(PASSES)))
def test_a_pass_runs_the_arm_on_its_own_columns(number):
    """Same output as the whole ARM on the full context: hidden neighbours zero, one-hot set."""
    arm = OverfitModel(8, 8, seed=3).arm
    contexts = torch.randn(3, 4, len(COLUMNS[number]))
    mean, log_scale = laplace_parameters(contexts, arm, number)
    full = full_contexts(contexts, number)
    assert full.shape == (3, 4, CONTEXT_SIZE) and torch.equal(full[..., COLUMNS[number]], contexts)
    assert full[..., ONE_HOT + number].eq(1).all()
    others = [i for i in range(ONE_HOT) if i not in COLUMNS[number]]
    assert not full[..., others].any() and full[..., ONE_HOT:].sum() == 3 * 4
    expected_mean, expected_log_scale = arm(full).unbind(dim=-1)
    torch.testing.assert_close(mean, expected_mean)
    torch.testing.assert_close(log_scale, expected_log_scale.clamp(-4.5, 4.5))


def test_every_position_is_in_exactly_one_pass():
    latent = torch.zeros(1, 1, 5, 6)
    for number in range(len(PASSES)):
        pass_view(latent, number).add_(1)
    assert torch.equal(latent, torch.ones_like(latent))


@pytest.mark.parametrize(("mean", "scale"), [(0.3, 2.0), (-5.2, 0.01), (0.0, 30.0)])
def test_discretised_laplace_sums_to_one(mean, scale):
    values = torch.arange(-400, 401, dtype=torch.float32)
    bits = [float(laplace_bits(v, torch.tensor(mean), torch.tensor(scale))) for v in values]
    assert sum(2**-b for b in bits) == pytest.approx(1, abs=1e-4)


@pytest.mark.parametrize(
    ("steps", "share"), [(10, 0.3), (200, 0.3), (300, 0.2), (600, 0.1), (1200, 0.1), (10**6, 0.1)]
)
def test_a_fit_ends_with_sixty_rounding_steps_within_its_bounds(steps, share):
    assert rounding_share(steps) == pytest.approx(share)


def test_fitting_trades_rate_for_quality(crop):
    start = evaluate(OverfitModel(64, 64), crop)
    low = Fitting(OverfitModel(64, 64), crop, lam=0.001, steps=300).finish()
    high = Fitting(OverfitModel(64, 64), crop, lam=0.02, steps=300).finish()
    assert high.bpp > low.bpp > 0 and high.psnr > low.psnr > start.psnr + 5
    assert high.psnr > 24


def test_fitting_is_deterministic_for_a_seed(crop):
    reports = []
    first, second = OverfitModel(64, 64), OverfitModel(64, 64)
    for model in (first, second):
        reports.append(Fitting(model, crop, lam=0.01, steps=40, seed=3).finish())
    assert reports[0] == reports[1]
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        assert torch.equal(a, b)


def test_the_best_start_is_finished_as_if_it_had_been_fitted_alone(crop):
    lam, steps, trial = 0.01, 30, 10
    losses = []
    for seed in range(3):
        fitting = Fitting(OverfitModel(64, 64, seed=seed), crop, lam, steps, seed=seed)
        for _ in range(trial):
            fitting.step()
        losses.append(fitting.loss())
    best = int(np.argmin(losses))
    reported = []
    starts = [OverfitModel(64, 64, seed=seed) for seed in range(3)]
    winner = fit_best_start(
        starts, crop, lam, steps, trial, on_report=lambda r: reported.append(r.step), report_every=5
    )
    assert winner is starts[best]
    alone = OverfitModel(64, 64, seed=best)
    Fitting(alone, crop, lam, steps, seed=best).finish()
    for a, b in zip(winner.parameters(), alone.parameters(), strict=True):
        assert torch.equal(a, b)
    assert reported == list(range(5, 2 * trial + steps + 1, 5))  # the trials' steps counted


def test_networks_on_grids_read_rounded_and_learn_straight_through():
    model = OverfitModel(8, 8, seed=2)
    parameters = list(model.parameters())
    exponents = (4, 3, 6, 5)
    overfit.put_networks_on_grids(model, exponents)
    first = model.arm[0]
    assert torch.equal(first.weight * 16, torch.round(first.weight * 16))
    assert not torch.equal(first.weight, first.parametrizations.weight.original)
    first.weight.sum().backward()
    assert torch.equal(first.parametrizations.weight.original.grad, torch.ones(16, CONTEXT_SIZE))
    overfit.release_networks(model)
    assert list(model.parameters()) == parameters  # the same tensors, still optimised
    for group, exponent in zip(overfit.GROUPS, exponents, strict=True):
        for parameter in overfit.group_tensors(model, group):
            scaled = parameter.detach() * 2.0**exponent
            assert torch.equal(scaled, torch.round(scaled)), group


def test_a_fit_runs_its_rounding_steps_on_the_chosen_network_grids(crop):
    lam, steps, exponents = 0.01, 40, (5, 4, 6, 7)
    calls = []

    def grids(model: OverfitModel, image: torch.Tensor, weight: float) -> tuple[int, ...]:
        calls.append((fitting.taken, image is crop, weight))
        return exponents

    options = overfit.FitOptions(network_grids=grids)
    fitting = Fitting(OverfitModel(64, 64), crop, lam, steps, options)
    fitting.finish()
    assert calls == [(math.ceil(fitting.noisy_steps), True, lam)]  # once, as rounding begins
    for group, exponent in zip(overfit.GROUPS, exponents, strict=True):
        for parameter in overfit.group_tensors(fitting.model, group):
            scaled = parameter.detach() * 2.0**exponent
            assert torch.equal(scaled, torch.round(scaled)), group


def test_a_fit_holds_the_grids_it_drops_at_zero(crop):
    calls = []

    def drop_finest(model: OverfitModel, image: torch.Tensor, weight: float) -> list[int]:
        calls.append((fitting.taken, float(model.latents[0].detach().abs().sum())))
        with torch.no_grad():
            model.latents[0].zero_()
        return [0]

    options = overfit.FitOptions(idle_grids=drop_finest, idle_check=10)
    fitting = Fitting(OverfitModel(64, 64), crop, 0.01, 30, options)
    fitting.finish()
    model = fitting.model
    assert len(calls) == 1 and calls[0][0] == 10 and calls[0][1] > 0  # once, on a moved grid
    assert model.dropped == {0} and not model.latents[0].any() and model.latents[0].grad is None
    latents = [torch.round(latent.detach()) for latent in model.latents]
    with torch.no_grad():
        _, bits = model(torch.round)
        coarser_grids = list(overfit.with_coarser(latents))[:-1]  # all but the finest
        expected = sum(float(overfit.grid_bits(g, c, model.arm)) for g, c in coarser_grids)
    assert float(bits) == pytest.approx(expected)


@pytest.mark.parametrize(("height", "width"), [(5, 7), (1, 1), (70, 33)])
def test_any_size_and_a_flat_image_stay_finite(height, width):
    grey = torch.full((3, height, width), 0.4)
    report = Fitting(OverfitModel(height, width), grey, lam=0.01, steps=60).finish()
    assert math.isfinite(report.bpp) and report.bpp >= 0
    assert report.psnr > 40


@pytest.mark.parametrize("band_pixels", [1 << 14, 120, 1])
@pytest.mark.parametrize(("slope", "channels"), [(0.0, 3), (0.01, 3), (0.01, 1)])
@pytest.mark.parametrize(("height", "width"), [(1, 1), (1, 9), (2, 2), (37, 50), (32, 48)])
def test_the_decoders_synthesis_equals_the_fitted_one(
    height, width, slope, channels, band_pixels, monkeypatch
):
    """render (decoding: zero grids skipped, bands of rows, the 3x3 layer as shifted sums
    over replicated borders) is synthesize, whatever the band height, in colour and grey."""
    monkeypatch.setattr(overfit, "PIXELS_PER_BAND", band_pixels)
    grids = min(3, min(height, width).bit_length())
    shape = OverfitShape(grids=grids, synthesis_slope=slope, channels=channels)
    model = OverfitModel(height, width, shape, seed=3, latent_step=0.5)
    torch.manual_seed(0)
    latents = [torch.round(4 * torch.randn_like(latent)) for latent in model.latents]
    latents[0].zero_()  # the finest grid all zero, as at low rates
    with torch.no_grad():
        for parameter in model.synthesis.parameters():  # biases too, so that edges matter
            parameter.copy_(torch.randn_like(parameter))
        expected = model.synthesize(latents)
    # the same float sums in another order (weights ~1 here, so sums cancel more than in a fit)
    torch.testing.assert_close(render(model, latents), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("grid", "size", "taken"),
    [((256, 384), (512, 768), True), ((16, 8), (64, 24), True), ((9, 11), (18, 33), True),
     ((64, 96), (512, 768), False), ((4, 6), (8, 12), False), ((9, 11), (19, 33), False)],
)  # fmt: skip
def test_upsampling_by_phases_equals_the_bicubic_matrices(grid, size, taken):
    """The decoder's upsampling of grids by whole factors up to 4, as phases of taps, gives
    upsample()'s values (to float rounding), its border included; other grids are declined."""
    latent = torch.randn(1, 1, *grid, generator=torch.Generator().manual_seed(1))
    out = torch.full((size[0] + 2, size[1] + 2), float("nan"))
    assert overfit._upsample_by_phases(latent[0, 0], out) is taken
    if taken:
        expected = upsample(latent, size, border=1)
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    else:
        assert out.isnan().all()


@pytest.mark.parametrize("border", [0, 1])
@pytest.mark.parametrize("side", [512, 4])
@pytest.mark.parametrize(
    ("grid", "size"), [((19, 25), (37, 50)), ((5, 7), (37, 50)), ((1, 1), (3, 2)), ((3, 2), (3, 2))]
)
def test_upsampling_is_the_bicubic_kernel_forward_and_backward(
    grid, size, side, border, monkeypatch
):
    """By matrix products (small grids) or by the kernel itself (larger than ``side``); the
    border replicates the edges."""
    monkeypatch.setattr(overfit, "MATMUL_GRID_SIDE", side)
    torch.manual_seed(5)
    latent = torch.randn(1, 1, *grid, requires_grad=True)
    reference = latent.detach().clone().requires_grad_()
    padded = (size[0] + 2 * border, size[1] + 2 * border)
    weights = torch.randn(padded)
    (upsample(latent, size, border) * weights).sum().backward()
    expected = torch.nn.functional.interpolate(reference, size=size, mode="bicubic")
    expected = torch.nn.functional.pad(expected, (border,) * 4, mode="replicate")[0, 0]
    (expected * weights).sum().backward()
    torch.testing.assert_close(upsample(latent, size, border), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(latent.grad, reference.grad, rtol=1e-5, atol=1e-5)
