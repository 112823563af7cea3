"""Discretised Laplace distributions as a fixed table: rows by log-scale and mean fraction.

A Laplace(mean, scale) over integers is coded with the row for (the scale's log on a grid of
LOG_SCALE_STEP, the mean's fraction on a grid of 1 / MEAN_STEPS), the symbol being the value
minus the mean's integer part. Means and log-scales arrive on the exact path's fixed-point
grid (nccli.models.exact), so choosing a row is exact arithmetic, and the rows are built from
basic IEEE operations (tables.exp_nonpositive): every machine codes with the same table.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from nccli.entropy.tables import PmfTable, exp_nonpositive, quantize

#: Log-scales are clamped to [LOG_SCALE_LOW, LOG_SCALE_HIGH] and rounded to LOG_SCALE_STEP.
LOG_SCALE_LOW = -4.5
LOG_SCALE_HIGH = 4.5
LOG_SCALE_STEP = 0.125
SCALES = int((LOG_SCALE_HIGH - LOG_SCALE_LOW) / LOG_SCALE_STEP) + 1
#: Means are rounded to 1 / MEAN_STEPS (a power of two: exact on the fixed-point grid).
MEAN_STEPS = 8
#: Scale multiples covered on each side of a row: exp(-TAIL_SCALES) / 2 < 1e-9 is escaped.
TAIL_SCALES = 20.8
#: Rows never reach further than this from their mean (latents are bounded by their model).
MAX_HALF_WIDTH = 160


@functools.cache
def laplace_table() -> PmfTable:
    """Row ``scale_index * MEAN_STEPS + fraction``: the Laplace mass of each integer k
    (relative to the mean's integer part) for mean fraction / MEAN_STEPS and the row's scale."""
    pmfs, offsets = [], []
    for index in range(SCALES):
        scale = row_scale(index)
        half = min(int(np.ceil(scale * TAIL_SCALES)) + 1, MAX_HALF_WIDTH)
        k = np.arange(-half, half + 1, dtype=np.float64)
        for fraction in range(MEAN_STEPS):
            centred = k - fraction / MEAN_STEPS
            pmfs.append(_cdf(centred + 0.5, scale) - _cdf(centred - 0.5, scale))
            offsets.append(-half)
    return quantize(pmfs, offsets)


def row_scale(index: int) -> float:
    """The Laplace scale of a table scale index: exp(log-scale), exactly reproducible."""
    log_scale = LOG_SCALE_LOW + index * LOG_SCALE_STEP
    if log_scale <= 0:
        return float(exp_nonpositive(np.float64(log_scale)))
    return float(1.0 / exp_nonpositive(np.float64(-log_scale)))


def _cdf(x: np.ndarray, scale: float) -> np.ndarray:
    tail = 0.5 * exp_nonpositive(-np.abs(x) / scale)
    return np.where(x < 0, tail, 1.0 - tail)


def rows_and_bases(mean: torch.Tensor, log_scale: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per element (flattened): its table row, and the integer its symbol counts from
    (symbol = value - base).

    The parameters must come from a deterministic path; on its dyadic grid every step here
    is exact in float64, so encoder and decoder agree on every machine.
    """
    steps = _mean_steps(mean)
    clamped = log_scale.to(torch.float64).clamp(LOG_SCALE_LOW, LOG_SCALE_HIGH).cpu().numpy()
    scale_index = np.floor((clamped.ravel() - LOG_SCALE_LOW) / LOG_SCALE_STEP + 0.5)
    rows = scale_index.astype(np.int64) * MEAN_STEPS + steps % MEAN_STEPS
    return rows, steps // MEAN_STEPS


def rows_and_bases_in_units(
    parameters: torch.Tensor, fraction_bits: int
) -> tuple[np.ndarray, np.ndarray]:
    """rows_and_bases of (mean, log-scale) given as integers in units of 2**-fraction_bits
    (2 x N, magnitudes below 2**30), by integer shifts in place: the same rows and bases in a
    twentieth of the time (int32)."""
    mean_bits = MEAN_STEPS.bit_length() - 1
    shift = fraction_bits - mean_bits  # a mean or log-scale step, in units: 2**shift
    low = -LOG_SCALE_LOW * (1 << fraction_bits)
    if 1 << mean_bits != MEAN_STEPS or LOG_SCALE_STEP * MEAN_STEPS != 1 or shift < 1:
        raise ValueError(f"{fraction_bits} fractional bits do not hold the table's grids")
    if low != int(low):
        raise ValueError(f"{fraction_bits} fractional bits do not hold LOG_SCALE_LOW")
    steps, rows = parameters.numpy().astype(np.int32)
    half = 1 << (shift - 1)
    steps += half
    steps >>= shift  # floor(mean * MEAN_STEPS + 1/2)
    rows += int(low) + half
    rows >>= shift  # the scale index, before clipping
    np.clip(rows, 0, SCALES - 1, out=rows)
    rows *= MEAN_STEPS
    rows += steps & (MEAN_STEPS - 1)
    steps >>= mean_bits
    return rows, steps


def _mean_steps(mean: torch.Tensor) -> np.ndarray:
    """Each mean in units of 1 / MEAN_STEPS, rounded half up (exact for dyadic means)."""
    scaled = mean.to(torch.float64).cpu().numpy().ravel() * MEAN_STEPS
    return np.floor(scaled + 0.5).astype(np.int64)
