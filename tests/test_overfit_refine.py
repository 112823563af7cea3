"""Refinement of a fitted model's rounded latents: every move judged exactly, and only moves
that lower the loss kept."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import PHOTO

from nccli.media import read_image
from nccli.models.image import overfit_coding
from nccli.models.image.overfit import LATENT_LIMIT, Fitting, OverfitModel
from nccli.models.image.overfit_refine import SPACING, _Loss, refine_latents

LAMBDA = 0.004


@pytest.fixture(scope="module")
def fitted() -> tuple[OverfitModel, torch.Tensor]:
    """A model fitted for 40 steps to a 45x61 crop (grids of odd sizes), networks on their
    coding grids, and the crop (channels x H x W)."""
    pixels = read_image(PHOTO.read_bytes()).pixels[120:165, 200:261]
    image = torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1).float() / 255
    model = OverfitModel(45, 61)
    Fitting(model, image, lam=LAMBDA, steps=40).finish()
    overfit_coding.choose_steps(model, image, LAMBDA)
    return model, image


def _copy(model: OverfitModel) -> OverfitModel:
    copy = OverfitModel(*model.size, model.shape)
    copy.load_state_dict(model.state_dict())
    return copy


@torch.no_grad()
def _loss(model: OverfitModel, latents: list[torch.Tensor], image: torch.Tensor) -> float:
    """Estimated bits of the coded grids + the weighted squared error, as refinement counts."""
    bits = overfit_coding._latent_bits(latents, model.arm)
    return bits + overfit_coding._weighted_error(model, latents, image, LAMBDA)


@pytest.mark.parametrize(
    ("index", "oy", "ox", "step"),
    [(0, 0, 0, -1.0), (0, 3, 1, 1.0), (1, 2, 4, -1.0), (2, 1, 0, 1.0), (3, 0, 2, -1.0)],
)
def test_each_move_on_a_lattice_is_judged_as_if_it_were_made_alone(fitted, index, oy, ox, step):
    """The lattice's points reach disjoint bits and pixels, so each point's change summed
    from the maps of all moves made at once is the change of its move alone."""
    model, image = fitted
    latents = overfit_coding.latent_integers(model)
    coded = [i for i, grid in enumerate(latents) if grid.any()]
    assert {0, 1, 2, 3} <= set(coded)
    loss = _Loss(model, image, LAMBDA, [grid.clone() for grid in latents], coded)
    trial = loss.trial(index, oy, ox, step)
    assert trial.gain.shape == latents[index][0, 0, oy::SPACING, ox::SPACING].shape
    before = [maps.clone() for maps, _, _ in trial.changes]
    for (i, j), gain in np.ndenumerate(trial.gain.numpy()):
        alone = [grid.clone() for grid in latents]
        alone[index][0, 0, oy + SPACING * i, ox + SPACING * j] += step
        loss.latents = alone
        changed = [loss._bits(index), loss._error()]
        if index - 1 in coded:
            changed.append(loss._bits(index - 1))
        pairs = zip(changed, before, strict=True)
        expected = sum(float((after - old).sum()) for after, old in pairs)
        assert gain == pytest.approx(expected, abs=1e-3)


def _coded_loss(model: OverfitModel, latents: list[torch.Tensor], image: torch.Tensor) -> float:
    """The latents' real coded bits + the weighted squared error."""
    bits = 8 * len(overfit_coding.encode_latents(latents, model.arm))
    return bits + overfit_coding._weighted_error(model, latents, image, LAMBDA)


def test_refinement_lowers_the_loss_estimated_and_coded(fitted):
    model, image = fitted
    model = _copy(model)
    before = overfit_coding.latent_integers(model)
    progress = []
    kept = refine_latents(model, image, LAMBDA, sweeps=2, on_progress=progress.append)
    after = overfit_coding.latent_integers(model)
    assert kept > 0
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert _loss(model, after, image) < _loss(model, before, image) - kept * 1e-3
    assert _coded_loss(model, after, image) < _coded_loss(model, before, image)
    for old, new in zip(before, after, strict=True):
        assert torch.equal(new, torch.round(new)) and new.abs().max() <= LATENT_LIMIT
        assert (new - old).abs().max() <= 2  # one step per sweep at the most
        assert old.any() or not new.any()  # grids not coded stay so
    again = refine_latents(_copy(model), image, LAMBDA, sweeps=1)
    assert again < kept


def test_a_refined_model_changes_nothing_more_than_its_latents(fitted):
    model, image = fitted
    refined = _copy(model)
    refine_latents(refined, image, LAMBDA, sweeps=1)
    ours, theirs = model.state_dict(), refined.state_dict()
    assert any(not torch.equal(ours[key], theirs[key]) for key in ours if "latents" in key)
    for key in ours:
        if "latents" not in key:
            assert torch.equal(ours[key], theirs[key])
