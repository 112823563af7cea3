"""Bjøntegaard deltas with piecewise cubic (PCHIP) interpolation, as in JVET's CTC sheets.

BD-rate: the average difference of log10(rate) between two RD curves over the quality range
they share, as a percentage (negative: the test codec needs fewer bits). BD-metric: the
average quality difference over the shared log-rate range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BDResult:
    """A Bjøntegaard delta and the interval it was integrated over."""

    value: float
    low: float
    high: float
    #: Share of the union of both curves' ranges that they have in common (0..1).
    overlap: float


def bd_rate(
    anchor_rate: list[float],
    anchor_metric: list[float],
    test_rate: list[float],
    test_metric: list[float],
) -> BDResult | None:
    """Percentage rate change of the test codec at equal quality; None without overlap."""
    result = _delta(
        np.asarray(anchor_metric, float),
        np.log10(_positive(anchor_rate)),
        np.asarray(test_metric, float),
        np.log10(_positive(test_rate)),
    )
    if result is None:
        return None
    return BDResult(float((10**result.value - 1) * 100), result.low, result.high, result.overlap)


def bd_metric(
    anchor_rate: list[float],
    anchor_metric: list[float],
    test_rate: list[float],
    test_metric: list[float],
) -> BDResult | None:
    """Average quality change of the test codec at equal rate; None without overlap.

    The interval is reported in rate units (not log-rate).
    """
    result = _delta(
        np.log10(_positive(anchor_rate)),
        np.asarray(anchor_metric, float),
        np.log10(_positive(test_rate)),
        np.asarray(test_metric, float),
    )
    if result is None:
        return None
    return BDResult(result.value, float(10**result.low), float(10**result.high), result.overlap)


def pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fritsch-Carlson derivatives of the monotone piecewise cubic Hermite interpolant."""
    h = np.diff(x)
    delta = np.diff(y) / h
    if len(x) == 2:
        return np.array([delta[0], delta[0]])
    slopes = np.zeros_like(y)
    w1, w2 = 2 * h[1:] + h[:-1], h[1:] + 2 * h[:-1]
    same_sign = delta[:-1] * delta[1:] > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        harmonic = (w1 + w2) / (w1 / delta[:-1] + w2 / delta[1:])
    slopes[1:-1] = np.where(same_sign, harmonic, 0.0)
    slopes[0] = _end_slope(h[0], h[1], delta[0], delta[1])
    slopes[-1] = _end_slope(h[-1], h[-2], delta[-1], delta[-2])
    return slopes


def pchip_integral(x: np.ndarray, y: np.ndarray, low: float, high: float) -> float:
    """Exact integral of the PCHIP interpolant of (x, y) over [low, high] within [x0, xn]."""
    slopes = pchip_slopes(x, y)
    total = 0.0
    for k in range(len(x) - 1):
        a, b = max(low, x[k]), min(high, x[k + 1])
        if a >= b:
            continue
        h = x[k + 1] - x[k]
        delta = (y[k + 1] - y[k]) / h
        c2 = (3 * delta - 2 * slopes[k] - slopes[k + 1]) / h
        c3 = (slopes[k] + slopes[k + 1] - 2 * delta) / h**2

        def antiderivative(t: float, k: int = k, c2: float = c2, c3: float = c3) -> float:
            return y[k] * t + slopes[k] * t**2 / 2 + c2 * t**3 / 3 + c3 * t**4 / 4

        total += antiderivative(b - x[k]) - antiderivative(a - x[k])
    return total


def _delta(xa: np.ndarray, ya: np.ndarray, xb: np.ndarray, yb: np.ndarray) -> BDResult | None:
    xa, ya = _curve(xa, ya)
    xb, yb = _curve(xb, yb)
    low, high = max(xa[0], xb[0]), min(xa[-1], xb[-1])
    if low >= high:
        return None
    union = max(xa[-1], xb[-1]) - min(xa[0], xb[0])
    difference = pchip_integral(xb, yb, low, high) - pchip_integral(xa, ya, low, high)
    return BDResult(
        float(difference / (high - low)), float(low), float(high), float((high - low) / union)
    )


def _curve(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort by x; where x repeats, keep the point with the smallest y (the cheapest one)."""
    if len(x) != len(y):
        raise ValueError("rates and metrics differ in length")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("RD points must be finite")
    order = np.lexsort((y, x))
    x, y = x[order], y[order]
    keep = np.concatenate([[True], np.diff(x) > 0])
    x, y = x[keep], y[keep]
    if len(x) < 2:
        raise ValueError("a curve needs at least two distinct points")
    return x, y


def _positive(rates: list[float]) -> np.ndarray:
    array = np.asarray(rates, float)
    if (array <= 0).any():
        raise ValueError("rates must be positive")
    return array


def _end_slope(h0: float, h1: float, d0: float, d1: float) -> float:
    slope = ((2 * h0 + h1) * d0 - h0 * d1) / (h0 + h1)
    if np.sign(slope) != np.sign(d0):
        return 0.0
    if np.sign(d0) != np.sign(d1) and abs(slope) > abs(3 * d0):
        return 3 * d0
    return slope
