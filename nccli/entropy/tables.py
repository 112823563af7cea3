"""Integer probability tables for entropy coding, built so that every machine gets the same.

The decoder depends on every table entry bit for bit, so tables are either shipped (learned
priors store theirs with their weights) or computed here from basic IEEE-754 operations
only (+, -, *, /, sqrt, rounding, scaling by powers of two), which are correctly rounded on
every platform. No exp/erf from a math library is involved (see DESIGN.md, Determinism).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Bits of probability resolution of the tables: probabilities are counts / 2**PRECISION.
PRECISION = 16
#: Probability mass left out in the two tails of a Gaussian table (as in CompressAI).
TAIL_MASS = 1e-9
#: Standard deviations covered on each side: -Phi^-1(TAIL_MASS / 2), rounded up.
TAIL_STDS = 6.11
#: Longest table row; wider distributions are cut here (their extremes are escaped).
MAX_ROW = 4096

_LN2_HI = 6.93147180369123816490e-01  # Cody-Waite split of ln 2 (the low part is exact)
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00


@dataclass(frozen=True)
class PmfTable:
    """Rows of integer probabilities, each summing to 2**precision.

    Row r covers symbols offsets[r] .. offsets[r] + lengths[r] - 2; its last entry
    (index lengths[r] - 1) is the escape bin for any symbol outside that range.
    """

    counts: np.ndarray  # (rows, max_length) int64, zero-padded
    lengths: np.ndarray  # (rows,) int64, including the escape bin
    offsets: np.ndarray  # (rows,) int64
    precision: int = PRECISION
    #: What a coder builds from a row (constriction's models), kept with the table: built
    #: once, not once per file.
    row_models: dict[int, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        total = 1 << self.precision
        rows = np.arange(self.counts.shape[1])[None, :] < self.lengths[:, None]
        if (self.counts[rows] <= 0).any() or (self.counts[~rows] != 0).any():
            raise ValueError("table rows must be positive within their length, zero beyond")
        if (self.counts.sum(axis=1) != total).any():
            raise ValueError(f"table rows must sum to 2**{self.precision}")

    def bits(self, symbols: np.ndarray, rows: np.ndarray) -> float:
        """Ideal code length in bits: -log2 of each symbol's table probability, summed.

        Escaped symbols count only their escape bin (their extra bytes come on top).
        """
        index = np.clip(symbols - self.offsets[rows], -1, self.lengths[rows] - 1)
        index = np.where(index < 0, self.lengths[rows] - 1, index)
        probabilities = self.counts[rows, index] / float(1 << self.precision)
        return float(-np.log2(probabilities).sum())


def quantize(pmfs: list[np.ndarray], offsets: list[int], precision: int = PRECISION) -> PmfTable:
    """Turn float pmfs (each without its escape bin) into an exact integer table.

    Each row gets its pmf plus an escape bin holding the rest of the unit mass; every entry
    gets at least 1 count, and rounding surplus or deficit goes to the row's largest entry.
    Only floor, multiplication and integer arithmetic are used.
    """
    total = 1 << precision
    width = max(len(p) for p in pmfs) + 1
    counts = np.zeros((len(pmfs), width), dtype=np.int64)
    lengths = np.zeros(len(pmfs), dtype=np.int64)
    for row, pmf in enumerate(pmfs):
        pmf = np.asarray(pmf, dtype=np.float64)
        if len(pmf) + 1 > total // 2:
            raise ValueError("a table row is too long for its precision")
        escape = max(0.0, 1.0 - float(np.cumsum(pmf)[-1]))
        mass = np.append(pmf, escape)
        spare = total - len(mass)  # every entry first gets one count
        row_counts = 1 + np.floor(np.clip(mass, 0.0, None) * spare).astype(np.int64)
        row_counts[int(np.argmax(row_counts[:-1]))] += total - int(row_counts.sum())
        counts[row, : len(mass)] = row_counts
        lengths[row] = len(mass)
    return PmfTable(counts, lengths, np.asarray(offsets, dtype=np.int64), precision)


def scale_table(low: float = 0.11, high: float = 256.0, levels: int = 64) -> np.ndarray:
    """Geometrically spaced scales from low up to about high, by repeated multiplication.

    The ratio is found by bisection on ratio**(levels-1) = high/low, using products only,
    so the table is the same bit for bit everywhere.
    """
    target = high / low
    lo, hi = 1.0, target
    for _ in range(200):
        mid = (lo + hi) / 2
        if _power(mid, levels - 1) < target:
            lo = mid
        else:
            hi = mid
    scales = np.empty(levels)
    scales[0] = low
    for i in range(1, levels):
        scales[i] = scales[i - 1] * lo
    return scales


def gaussian_table(scales: np.ndarray, precision: int = PRECISION) -> PmfTable:
    """One row per scale: zero-mean Gaussian mass of each integer bin, tails escaped."""
    pmfs, offsets = [], []
    for scale in np.asarray(scales, dtype=np.float64):
        half = min(int(np.ceil(scale * TAIL_STDS)), (MAX_ROW - 2) // 2)
        k = np.arange(-half, half + 1, dtype=np.float64)
        upper = normal_cdf((k + 0.5) / scale)
        lower = normal_cdf((k - 0.5) / scale)
        pmfs.append(upper - lower)
        offsets.append(-half)
    return quantize(pmfs, offsets, precision)


def normal_cdf(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF to about 1e-7, from basic operations only (A&S 26.2.17)."""
    x = np.asarray(x, dtype=np.float64)
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.2316419 * z)
    poly = t * (
        0.319381530 + t * (-0.356563782 + t * (1.781477937 + t * (-1.821255978 + t * 1.330274429)))
    )
    density = 0.3989422804014327 * exp_nonpositive(-0.5 * z * z)
    upper_tail = density * poly
    return np.where(x >= 0, 1.0 - upper_tail, upper_tail)


def exp_nonpositive(x: np.ndarray) -> np.ndarray:
    """e**x for x <= 0 to about 1 ulp: Cody-Waite reduction, Taylor polynomial, exact 2**k."""
    x = np.maximum(np.asarray(x, dtype=np.float64), -745.0)
    k = np.rint(x * _INV_LN2)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    term, total = np.ones_like(r), np.ones_like(r)
    for n in range(1, 14):
        term = term * r / n
        total = total + term
    return np.ldexp(total, k.astype(np.int64))


def _power(base: float, exponent: int) -> float:
    result = 1.0
    for _ in range(exponent):
        result *= base
    return result
