"""--bpp's search (nccli.bpp_search): bisection, and the aimed search of codecs with an
encoder effort."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from nccli import api
from nccli.bpp_search import AIMED_TRIES, encode_to_bpp, search
from nccli.codecs.base import get_codec
from nccli.codecs.effort import effort_param
from nccli.codecs.image.overfit import EFFORT as OVERFIT_EFFORT
from nccli.codecs.image.photo import EFFORT as PHOTO_EFFORT
from nccli.codecs.progress import reporting
from nccli.container import loads
from nccli.errors import UsageError

CUPS = Path(__file__).resolve().parent / "fixtures" / "photos" / "cups.png"
PHOTO = get_codec("nc-photo")
QUALITY = PHOTO.param("quality")
INTEGER = get_codec("jpeg").param("quality")
#: Image size of the searches over made-up sizes: a target of t bpp allows 125 t bytes.
PIXELS = 1000

#: A container size in bytes for a quality and an effort.
Size = Callable[[float, str], int]


class Sizes:
    """Stands in for a codec's encoder in the search: containers of the sizes ``size`` gives,
    the quality written at their start; counts the encodes at each effort."""

    def __init__(self, size: Size) -> None:
        self.size = size
        self.counts: dict[str, int] = {}

    def __call__(self, params: dict[str, Any]) -> bytes:
        effort = params["effort"]
        self.counts[effort] = self.counts.get(effort, 0) + 1
        return f"{params['quality']:.2f}".encode().ljust(self.size(params["quality"], effort))


def searched(size: Size, target: float, effort: str = "max") -> tuple[float, int, dict]:
    """The quality and size of the container the search returns, and the encodes per effort."""
    sizes = Sizes(size)
    data = encode_to_bpp(PHOTO, PHOTO.resolve_params({"effort": effort}), PIXELS, target, sizes)
    return float(data[:4]), len(data), sizes.counts


def test_cheapest_effort_below_the_asked_one():
    assert PHOTO_EFFORT.cheapest_below("max") == "fast"
    assert PHOTO_EFFORT.cheapest_below("default") == "fast"
    assert PHOTO_EFFORT.cheapest_below("1") == "fast"
    assert PHOTO_EFFORT.cheapest_below("fast") is None
    assert PHOTO_EFFORT.cheapest_below("0") is None
    assert OVERFIT_EFFORT.cheapest_below("default") == "fast"
    assert OVERFIT_EFFORT.cheapest_below("fast") is None
    assert OVERFIT_EFFORT.cheapest_below("150") is None
    assert effort_param({"default": 5}, 1, 9, "steps").cheapest_below("9") == "default"


def test_bisection_ends_within_its_step_below_the_largest_fitting_value():
    assert 4.35 <= search(QUALITY, lambda q: bytes(round(100 * q)), 1, 8, 437) <= 4.37
    assert search(INTEGER, lambda q: bytes(round(100 * q)), 0, 100, 437) == 4
    assert search(QUALITY, lambda q: bytes(round(100 * q)), 1, 8, 800) == 8
    assert search(QUALITY, lambda q: bytes(round(100 * q)), 1, 8, 99) is None


@pytest.mark.parametrize("factor", [0.8, 1.15])
def test_aimed_search_encodes_the_asked_effort_a_few_times(factor):
    """Max effort a fixed factor off the fast effort's size: the aimed tries end where the
    bisection at max effort itself would, at a fraction of the max-effort encodes."""

    def size(quality: float, effort: str) -> int:
        return int(100 * quality**2 * (factor if effort == "max" else 1))

    quality, length, counts = searched(size, target=8.0)
    plain = search(QUALITY, lambda q: bytes(size(q, "max")), 1, 8, 1000)
    assert length <= 1000 and abs(quality - plain) <= 0.02
    assert counts["max"] <= AIMED_TRIES < counts["fast"]


@pytest.mark.parametrize("target", [6.25, 8.5])
def test_a_fitting_and_an_overshooting_try_aim_the_last_one_by_the_line_between(target):
    """Max effort's saving shrinks as quality grows, and sizes jitter by 0.5 %, as real
    refined encodes do: aimed by the last size ratio alone, the third try overshot here and
    the search kept a file of 0.93-0.94 of the limit; the line through the fitting and the
    overshooting try, aimed 1 % low, fits."""

    def size(quality: float, effort: str) -> int:
        saving = 0.85 + 0.03 * quality if effort == "max" else 1
        jitter = zlib.crc32(f"{quality:.2f}{effort}".encode()) % 1000 / 1000 - 0.5
        return int(100 * quality**2 * saving * (1 + 0.01 * jitter))

    limit = target * PIXELS / 8
    _, length, counts = searched(size, target)
    assert 0.98 * limit <= length <= limit and counts["max"] <= AIMED_TRIES


def test_aimed_search_falls_back_to_bisecting_at_the_asked_effort():
    """Max effort's sizes nothing like the fast effort's: no aimed try fits, so the search
    bisects at max effort and still finds its largest fitting quality."""
    quality, length, counts = searched(lambda q, e: 950 if e == "max" and q > 1.5 else 100, 7.5)
    assert 1.48 <= quality <= 1.5 and length == 100
    assert counts["max"] > AIMED_TRIES


def test_no_cheaper_effort_bisects_at_the_asked_one():
    quality, length, counts = searched(lambda q, e: int(100 * q), 4.0, effort="fast")
    assert (quality, length) == (5.0, 500) and set(counts) == {"fast"}


def test_a_target_no_effort_reaches_is_a_usage_error():
    with pytest.raises(UsageError, match=r"cannot reach 0\.5 bpp .* gives 0\.8000 bpp"):
        searched(lambda q, e: 100, 0.5)


def test_nc_photo_at_a_higher_effort_lands_where_bisecting_at_it_would():
    """Real encodes of a 128x96 crop at the default effort (30 refinement steps): the aimed
    search's file fits, records the asked effort, and its quality is the bisection's within
    0.1."""
    crop = np.array(Image.open(CUPS).convert("RGB"))[100:196, 150:278]
    made: dict[str, int] = {}

    def pack(params: dict[str, Any]) -> bytes:
        made[params["effort"]] = made.get(params["effort"], 0) + 1
        return api.encode(crop, "nc-photo", **params)

    params = PHOTO.resolve_params({})
    data = encode_to_bpp(PHOTO, params, crop.shape[0] * crop.shape[1], 0.6, pack)
    header = loads(data).header
    assert len(data) * 8 / (128 * 96) <= 0.6 and header.params["effort"] == "default"
    assert made["default"] <= AIMED_TRIES
    plain = search(QUALITY, lambda q: pack({**params, "quality": q}), 1, 8, 0.6 * 128 * 96 / 8)
    assert abs(header.params["quality"] - plain) <= 0.1


def test_progress_names_the_value_and_effort_being_tried():
    crop = np.array(Image.open(CUPS).convert("RGB"))[:64, :64]
    seen: list[str] = []
    with reporting(lambda done, status: seen.append(status)):
        api.encode(crop, "nc-photo", bpp=3.0, effort="2")
    assert seen and all(s.startswith("quality ") and ", effort 2: " in s for s in seen)
