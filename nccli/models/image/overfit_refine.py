"""Refinement of a fitted model's rounded latents: each moved by one step up or down where that
lowers its estimated bits + lam * 255^2 * squared error, every move decided exactly.

A fit's straight-through rounding steps see the rate as a smooth function of each latent; the
coded rate is not one, and after a fit one latent in four of those not zero codes for less
when moved one step towards zero (a 256x384 crop at quality 5; docs/notes/nc-overfit.md).
A latent reaches the bits of its grid's positions within distance 2 (their ARM contexts),
of the finer grid's positions whose parent contexts hold it, and the pixels within the
bicubic kernel's reach (2 grid positions) and the synthesis' 3x3 border. Latents SPACING
apart on a lattice reach disjoint sets, so one evaluation of the model with all of them moved
gives the exact change of each: every position's bits and every pixel's error count for the
lattice point nearest it. A sweep moves each grid's latents up, then down, lattice by lattice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from nccli.models.image.overfit import (
    LATENT_LIMIT,
    PASSES,
    OverfitModel,
    laplace_parameters,
    laplace_position_bits,
    pass_contexts,
    pass_view,
    render,
)

#: Latents this far apart (or farther) reach disjoint bits and pixels: the reach is less than
#: 2.5 positions either way on every grid.
SPACING = 5
#: Only the finest grids are refined: on a 256x384 crop (Dragonfly, quality 5, 200 fitting
#: steps, two sweeps) the coarser three gave 1.5 % of the gain for 35 % of the time, as a
#: trial costs a whole synthesis however few latents its lattice holds.
REFINED_GRIDS = 4
#: A move is kept when it lowers the loss by more than this (in bits), not by float noise.
MIN_GAIN = 1e-3

Progress = Callable[[float], None]


@torch.no_grad()
def refine_latents(
    model: OverfitModel,
    image: torch.Tensor,
    lam: float,
    sweeps: int,
    on_progress: Progress = lambda done: None,
) -> int:
    """Move the model's latents (rounded first) one step at a time, in place, while that lowers
    the estimated bits + lam * 255^2 * squared error, for ``sweeps`` sweeps over the coded
    grids among the REFINED_GRIDS finest (all-zero ones stay so); returns how many moves
    were kept. ``on_progress`` hears the fraction done after each grid."""
    latents = [torch.round(grid.clamp(-LATENT_LIMIT, LATENT_LIMIT)) for grid in model.latents]
    coded = [index for index, grid in enumerate(latents) if grid.any()]
    state = _Loss(model, image, lam, latents, coded)
    refined = [index for index in coded if index < REFINED_GRIDS]
    kept = 0
    for sweep in range(sweeps):
        for done, index in enumerate(refined):
            for step in (1.0, -1.0):
                for oy in range(min(SPACING, latents[index].shape[-2])):
                    for ox in range(min(SPACING, latents[index].shape[-1])):
                        kept += state.try_moves(index, oy, ox, step)
            on_progress((sweep * len(refined) + done + 1) / (sweeps * len(refined)))
    for grid, refined in zip(model.latents, state.latents, strict=True):
        grid.copy_(refined)
    return kept


@dataclass
class _Trial:
    """Moves tried on a lattice: the latents before and after, each one's change of the loss,
    and each map changed (the map, its values after all the moves, its lattice cells)."""

    lattice: torch.Tensor
    target: torch.Tensor
    gain: torch.Tensor
    changes: list[tuple[torch.Tensor, torch.Tensor, _Cells]]


class _Loss:
    """The latents under refinement with each coded position's bits and each pixel's weighted
    squared error."""

    def __init__(
        self,
        model: OverfitModel,
        image: torch.Tensor,
        lam: float,
        latents: list[torch.Tensor],
        coded: list[int],
    ) -> None:
        self.model, self.image, self.lam, self.latents = model, image, lam, latents
        self.coded = coded
        self.bits = {index: self._bits(index) for index in coded}
        self.error = self._error()

    def try_moves(self, index: int, oy: int, ox: int, step: float) -> int:
        """Move the latents of grid ``index`` at (oy, ox) + SPACING * (i, j) by ``step`` and
        keep each move that lowers the loss; returns how many were kept."""
        trial = self.trial(index, oy, ox, step)
        keep = (trial.gain < -MIN_GAIN) & (trial.target != trial.lattice)
        grid = self.latents[index].clone()
        grid[0, 0, oy::SPACING, ox::SPACING] = torch.where(keep, trial.target, trial.lattice)
        self.latents[index] = grid
        if keep.any():
            for maps, moved, cells in trial.changes:
                maps[:] = torch.where(cells.spread(keep), moved, maps)
        return int(keep.sum())

    def trial(self, index: int, oy: int, ox: int, step: float) -> _Trial:
        """The loss' change (bits) for each latent of grid ``index`` at (oy, ox) + SPACING *
        (i, j) moved by ``step`` (the latents are left as they were)."""
        grid = self.latents[index]
        lattice = grid[0, 0, oy::SPACING, ox::SPACING]
        target = (lattice + step).clamp(-LATENT_LIMIT, LATENT_LIMIT)
        self.latents[index] = grid.clone()
        self.latents[index][0, 0, oy::SPACING, ox::SPACING] = target
        at = (oy, ox, *grid.shape[-2:], grid.device)
        changes = [
            (self.bits[index], self._bits(index), _Cells(*at, grid.shape[-2:], 1.0)),
            (self.error, self._error(), _Cells(*at, self.image.shape[-2:], None)),
        ]
        if index - 1 in self.bits:  # the finer grid is coded: its contexts hold these
            finer = self.latents[index - 1].shape[-2:]
            changes.append((self.bits[index - 1], self._bits(index - 1), _Cells(*at, finer, 2.0)))
        self.latents[index] = grid
        gain = sum(cells.sum(moved - maps) for maps, moved, cells in changes)
        return _Trial(lattice, target, gain, changes)

    @torch.no_grad()
    def _bits(self, index: int) -> torch.Tensor:
        """Each position's bits in grid ``index`` under the ARM (h x w)."""
        grid = self.latents[index]
        coarser = self.latents[index + 1] if index + 1 < len(self.latents) else None
        bits = torch.zeros_like(grid[0, 0])
        for number in range(len(PASSES)):
            values = pass_view(grid, number)[0, 0]
            if values.numel():
                contexts = pass_contexts(grid, coarser, number)
                mean, log_scale = laplace_parameters(contexts, self.model.arm, number)
                pass_view(bits, number)[...] = laplace_position_bits(
                    values, mean, torch.exp(log_scale)
                )
        return bits

    @torch.no_grad()
    def _error(self) -> torch.Tensor:
        """Each pixel's lam * 255^2 * squared error, averaged over channels (H x W); on a CPU
        from the decoder's synthesis (render: a few times as fast), which skips the same
        all-zero grids in every trial, so that pixels out of reach come out the same."""
        if self.image.device.type == "cpu":
            decoded = render(self.model, self.latents, self.coded).clamp_(0, 1)
        else:
            decoded = self.model.synthesize(self.latents).clamp(0, 1)
        weight = self.lam * 255**2 / len(self.image)
        return (decoded - self.image).square().sum(dim=0) * weight


class _Cells:
    """Which point of the lattice at (oy, ox) + SPACING * (i, j) on an h x w grid each element
    of a map (of ``size``) is nearest to: a map of the grid itself (scale 1), of the finer
    grid (scale 2: positions 2y and 2y + 1 under y) or of the image (scale None: pixel
    centres where the bicubic upsampling places them)."""

    def __init__(
        self,
        oy: int,
        ox: int,
        h: int,
        w: int,
        device: torch.device,
        size: tuple[int, int],
        scale: float | None,
    ) -> None:
        self.count = (-(-(h - oy) // SPACING), -(-(w - ox) // SPACING))
        self.rows = _nearest(_coordinates(size[0], h, scale), oy, self.count[0]).to(device)
        self.columns = _nearest(_coordinates(size[1], w, scale), ox, self.count[1]).to(device)

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """The map's values summed per lattice point (rows x columns)."""
        by_rows = values.new_zeros(self.count[0], values.shape[1]).index_add_(0, self.rows, values)
        return by_rows.new_zeros(self.count).index_add_(1, self.columns, by_rows)

    def spread(self, points: torch.Tensor) -> torch.Tensor:
        """Which elements of the map belong to the lattice points set in ``points``."""
        return points[self.rows][:, self.columns]


def _coordinates(length: int, grid_length: int, scale: float | None) -> torch.Tensor:
    """Where each of ``length`` elements lies in grid units."""
    positions = torch.arange(length, dtype=torch.float32)
    if scale is None:  # pixel centres, as interpolate(align_corners=False) maps them
        return (positions + 0.5) * (grid_length / length) - 0.5
    return (positions - (scale - 1) / 2) / scale


def _nearest(coordinates: torch.Tensor, offset: int, count: int) -> torch.Tensor:
    """The index of each coordinate's nearest lattice point (of ``count`` along the axis)."""
    return torch.round((coordinates - offset) / SPACING).clamp(0, count - 1).long()
