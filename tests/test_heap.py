"""reused_heap(): fitting steps stop faulting pages in, and glibc's policy returns after.

Page faults are counted in a fresh interpreter (this file run as a script): in the test
process, blocks that earlier tests freed have moved glibc's thresholds, and the steps'
blocks no longer map afresh even under the default policy.
"""

from __future__ import annotations

import contextlib
import json
import resource
import subprocess
import sys

import pytest
import torch

from nccli.models import heap
from nccli.models.image import overfit

pytestmark = pytest.mark.skipif(heap._glibc() is None, reason="glibc's malloc only")

#: A 256 x 256 image: its activations are megabytes, far above glibc's mmap threshold.
SIDE = 256
#: Fitting steps counted each time.
STEPS = 4


def _image() -> torch.Tensor:
    return torch.rand(3, SIDE, SIDE, generator=torch.Generator().manual_seed(0))


def _faults_of_steps(model: overfit.OverfitModel, image: torch.Tensor) -> int:
    """Page faults of STEPS fitting steps, after two steps of warm-up."""
    overfit.fit(model, image, 1e-3, 2)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    overfit.fit(model, image, 1e-3, STEPS)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def _measure(interrupt: bool) -> dict[str, int | None]:
    """Faults of fitting steps before, inside (or, with ``interrupt``, a block left by a
    KeyboardInterrupt) and after reused_heap()."""
    model, image = overfit.OverfitModel(SIDE, SIDE), _image()
    outside, inside = _faults_of_steps(model, image), None
    if interrupt:
        with contextlib.suppress(KeyboardInterrupt), heap.reused_heap():
            raise KeyboardInterrupt
    else:
        with heap.reused_heap():
            inside = _faults_of_steps(model, image)
    return {"outside": outside, "inside": inside, "after": _faults_of_steps(model, image)}


def _measured_afresh(interrupt: bool = False) -> dict[str, int | None]:
    """_measure in a fresh interpreter; skips where the default policy faults nothing in."""
    argument = "interrupt" if interrupt else "steps"
    done = subprocess.run(
        [sys.executable, __file__, argument], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    faults = json.loads(done.stdout)
    if faults["outside"] < 1000:
        pytest.skip(f"{faults['outside']} page faults in {STEPS} steps: nothing to see")
    return faults


def test_steps_reuse_freed_memory_inside_and_not_after() -> None:
    faults = _measured_afresh()
    # measured: outside 27,000-33,000; inside 2 to 3,058 (first-time allocations, by chance)
    assert faults["inside"] < faults["outside"] / 5
    assert faults["after"] > faults["outside"] / 4  # the default policy is back


def test_the_default_policy_returns_when_the_block_raises() -> None:
    faults = _measured_afresh(interrupt=True)
    assert faults["after"] > faults["outside"] / 4


def test_fitting_inside_gives_the_same_model() -> None:
    image = _image()
    models = [overfit.OverfitModel(SIDE, SIDE) for _ in range(2)]
    overfit.fit(models[0], image, 1e-3, 3)
    with heap.reused_heap():
        overfit.fit(models[1], image, 1e-3, 3)
    first, second = (model.state_dict() for model in models)
    assert all(torch.equal(first[name], second[name]) for name in first)


if __name__ == "__main__":
    print(json.dumps(_measure(interrupt=sys.argv[1] == "interrupt")))
