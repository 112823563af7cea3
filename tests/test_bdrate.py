"""Bjøntegaard deltas: hand-computable cases, an independent PCHIP, and the bjontegaard package."""

from __future__ import annotations

import math

import bjontegaard
import numpy as np
import pytest
from scipy.interpolate import PchipInterpolator

from nccli.evaluation.bd import per_input_bd_rates
from nccli.evaluation.runner import Row
from nccli.metrics.bdrate import bd_metric, bd_rate, pchip_integral

ANCHOR_RATE = [100.0, 200.0, 400.0, 800.0]
ANCHOR_PSNR = [30.0, 33.0, 35.5, 37.5]


def test_same_quality_at_80_percent_of_the_rate_is_minus_20_percent():
    test_rate = [0.8 * r for r in ANCHOR_RATE]
    result = bd_rate(ANCHOR_RATE, ANCHOR_PSNR, test_rate, ANCHOR_PSNR)
    assert result.value == pytest.approx(-20.0, abs=1e-9)
    assert (result.low, result.high) == (30.0, 37.5)
    assert result.overlap == pytest.approx(1.0)


def test_linear_log_rate_curves_by_hand():
    """log10 R = 2 + 0.1 (Q - 30); the test codec reaches every Q 1 dB earlier.

    PCHIP reproduces straight lines exactly, so BD-rate = 10^(-0.1) - 1 = -20.5672 %, and
    BD-PSNR = +1 dB, over the shared ranges Q in [31, 40] and log R in [2.1, 3.0].
    """
    quality = np.array([30.0, 33.0, 36.0, 40.0])
    anchor_rate = 10 ** (2 + 0.1 * (quality - 30))
    test_quality = quality + 1.0
    result = bd_rate(anchor_rate, quality, anchor_rate, test_quality)
    assert result.value == pytest.approx((10**-0.1 - 1) * 100, abs=1e-9)
    assert result.value == pytest.approx(-20.5672, abs=1e-4)
    assert (result.low, result.high) == (31.0, 40.0)
    assert result.overlap == pytest.approx(9 / 11)
    psnr_gain = bd_metric(anchor_rate, quality, anchor_rate, test_quality)
    assert psnr_gain.value == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("seed", range(20))
def test_pchip_integral_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(0, 10, rng.integers(2, 8)))
    y = np.cumsum(rng.uniform(-1, 2, len(x)))
    low, high = np.sort(rng.uniform(x[0], x[-1], 2))
    expected = PchipInterpolator(x, y).integrate(low, high)
    assert pchip_integral(x, y, low, high) == pytest.approx(expected, rel=1e-10, abs=1e-12)


CURVES = [
    # (anchor rate, anchor PSNR, test rate, test PSNR): the example of the bjontegaard package
    (
        [9487.76, 4593.60, 2258.40, 1101.60],
        [40.037, 38.615, 36.845, 34.851],
        [9787.80, 4469.00, 2181.00, 1081.40],
        [40.121, 38.651, 36.970, 34.946],
    ),
    # a JPEG / WebP-like pair on bits per pixel
    (
        [0.38, 0.62, 0.81, 0.99, 1.30, 2.21],
        [27.8, 29.8, 31.0, 31.9, 33.2, 36.1],
        [0.29, 0.46, 0.64, 0.82, 1.33, 2.54],
        [28.6, 30.8, 32.4, 33.6, 35.9, 38.5],
    ),
]


@pytest.mark.parametrize("curve", CURVES)
def test_matches_the_bjontegaard_package(curve):
    ours = bd_rate(*curve).value
    theirs = bjontegaard.bd_rate(*curve, method="pchip", min_overlap=0)
    assert ours == pytest.approx(theirs, abs=1e-9)
    assert bd_metric(*curve).value == pytest.approx(
        bjontegaard.bd_psnr(*curve, method="pchip", min_overlap=0), abs=1e-9
    )


def test_no_overlap_gives_none():
    assert bd_rate([1, 2], [30, 31], [1, 2], [32, 33]) is None


def test_bad_curves():
    with pytest.raises(ValueError, match="two distinct points"):
        bd_rate([1, 2], [30, 30], [1, 2], [30, 31])
    with pytest.raises(ValueError, match="positive"):
        bd_rate([0, 2], [30, 31], [1, 2], [30, 31])
    with pytest.raises(ValueError, match="finite"):
        bd_rate([1, 2], [30, math.inf], [1, 2], [30, 31])
    with pytest.raises(ValueError, match="length"):
        bd_rate([1, 2, 3], [30, 31], [1, 2], [30, 31])


def test_repeated_quality_keeps_the_cheapest_point():
    rate = [100, 150, 200, 400]
    psnr = [30, 30, 33, 35]
    result = bd_rate(rate, psnr, [r * 0.5 for r in rate], psnr)
    assert result.value == pytest.approx(-50.0)


def test_per_input_bd_rates_take_each_photo_alone():
    """On photo a the test codec spends 80 % of the anchor's rate, on photo b the same."""
    shares = {("a", "test"): 0.8, ("a", "other"): 0.5}
    rows = [
        Row(f"/photos/{photo}.png", codec, request={"q": q}, bpp=rate / 1000, psnr=quality)
        for photo in ("a", "b")
        for codec in ("test", "anchor", "other")
        for q, (rate, quality) in enumerate(zip(ANCHOR_RATE, ANCHOR_PSNR, strict=True))
    ]
    for row in rows:
        row.bpp *= shares.get((row.input[8], row.codec), 1.0)
    by_photo = per_input_bd_rates(rows, ["test"], "anchor")
    assert list(by_photo) == ["a", "b"]
    psnr = {
        photo: [(e.codec, e.bd_rate) for e in entries if e.metric == "psnr"]
        for photo, entries in by_photo.items()
    }
    assert psnr["a"] == [("test", pytest.approx(-20.0, abs=1e-9))]  # "other" not asked for
    assert psnr["b"] == [("test", pytest.approx(0.0, abs=1e-9))]
