"""reused_heap(): fitting steps stop faulting pages in, and glibc's policy returns after."""

from __future__ import annotations

import resource

import pytest
import torch

from nccli.models import heap
from nccli.models.image import overfit

pytestmark = pytest.mark.skipif(heap._glibc() is None, reason="glibc's malloc only")

#: mallopt's parameter for the size from which blocks are mapped afresh.
M_MMAP_THRESHOLD = -3
#: A 256 x 256 image: its activations are megabytes, far above glibc's mmap threshold.
SIDE = 256


def _faults_of_steps(model: overfit.OverfitModel, image: torch.Tensor, steps: int) -> int:
    """Page faults of ``steps`` fitting steps, after two steps of warm-up."""
    overfit.fit(model, image, 1e-3, 2)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    overfit.fit(model, image, 1e-3, steps)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.fixture
def fitting() -> tuple[overfit.OverfitModel, torch.Tensor]:
    """A model and image; glibc's mmap threshold back at its start value (blocks that earlier
    tests freed have raised it, so that these steps' blocks no longer map afresh)."""
    heap._glibc().mallopt(M_MMAP_THRESHOLD, heap.DEFAULT_TRIM_THRESHOLD)
    generator = torch.Generator().manual_seed(0)
    return overfit.OverfitModel(SIDE, SIDE), torch.rand(3, SIDE, SIDE, generator=generator)


def test_steps_reuse_freed_memory_inside_and_not_after(
    fitting: tuple[overfit.OverfitModel, torch.Tensor],
) -> None:
    outside = _faults_of_steps(*fitting, 4)
    if outside < 1000:
        pytest.skip(f"{outside} page faults in 4 steps (huge pages always on?): nothing to see")
    with heap.reused_heap():
        inside = _faults_of_steps(*fitting, 4)
    assert inside < outside / 10
    assert _faults_of_steps(*fitting, 4) > outside / 4  # the default policy is back


def test_the_default_policy_returns_when_the_block_raises(
    fitting: tuple[overfit.OverfitModel, torch.Tensor],
) -> None:
    outside = _faults_of_steps(*fitting, 4)
    with pytest.raises(KeyboardInterrupt), heap.reused_heap():
        raise KeyboardInterrupt
    assert _faults_of_steps(*fitting, 4) > outside / 4


def test_fitting_inside_gives_the_same_model(
    fitting: tuple[overfit.OverfitModel, torch.Tensor],
) -> None:
    _, image = fitting
    models = [overfit.OverfitModel(SIDE, SIDE) for _ in range(2)]
    overfit.fit(models[0], image, 1e-3, 3)
    with heap.reused_heap():
        overfit.fit(models[1], image, 1e-3, 3)
    first, second = (model.state_dict() for model in models)
    assert all(torch.equal(first[name], second[name]) for name in first)
