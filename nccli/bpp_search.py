"""``--bpp``: the largest container at or below a bits-per-pixel target, found by searching
the codec's rate parameter.

The search bisects the rate parameter, assuming size grows with it, and keeps only settings
whose real container was measured at or below the target, so it never overshoots even where
size is not monotonic. A codec that optimises at encode time (an ``effort``,
nccli.codecs.effort) is searched at its cheapest named effort first; the asked effort then
encodes only near the answer, at most AIMED_TRIES times: each try aimed by the size ratio
between the two efforts that the last try measured, until one try fits and another does not;
then by the straight line through those two. Only where no aimed try fits does the search
bisect at the asked effort itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from nccli.codecs.base import Codec, Param
from nccli.codecs.effort import EffortParam
from nccli.codecs.progress import part
from nccli.errors import UsageError

#: Most encodes at the asked effort before falling back to bisecting at that effort.
AIMED_TRIES = 3

#: The line between a fitting and an overshooting try is aimed this fraction below the limit:
#: sizes jitter around it by a few tenths of a percent, and a miss keeps a far smaller file.
LINE_MARGIN = 0.01

#: Encodes a container with the given parameters.
Pack = Callable[[dict[str, Any]], bytes]
#: Encodes a container at a value of the rate parameter (memoised).
Encoder = Callable[[float], bytes]


def encode_to_bpp(
    backend: Codec, params: dict[str, Any], pixels: int, target: float, pack: Pack
) -> bytes:
    """Largest container ``pack`` makes at or below ``target`` bits per pixel of an image of
    ``pixels`` pixels, with ``params`` (validated) but for the rate parameter."""
    if backend.rate_param is None:
        raise UsageError(f"codec {backend.name} has no rate parameter; --bpp does not apply")
    if not target > 0:
        raise UsageError(f"--bpp must be positive, not {target}")
    spec = backend.param(backend.rate_param)
    limit = target * pixels / 8
    effort = next((p for p in backend.params if isinstance(p, EffortParam)), None)
    asked = _encoder(spec, params, pack, effort)
    cheapest = effort.cheapest_below(params[effort.name]) if effort else None
    if cheapest is not None:
        preview = _encoder(spec, {**params, effort.name: cheapest}, pack, effort)
        aimed = _aimed_search(spec, asked, preview, limit)
        if aimed is not None:
            return aimed
    value = search(spec, asked, spec.low, spec.high, limit)
    if value is None:
        raise UsageError(
            f"{backend.name} cannot reach {target} bpp on this image: its lowest {spec.name} "
            f"gives {len(asked(spec.low)) * 8 / pixels:.4f} bpp"
        )
    return asked(value)


def search(spec: Param, encode: Encoder, low: float, high: float, limit: float) -> float | None:
    """The largest value from ``low`` to ``high`` that bisection finds whose container holds
    at most ``limit`` bytes (steps of 1 for whole-number parameters, else 0.02); None where
    ``low``'s does not fit."""
    if len(encode(low)) > limit:
        return None
    step, digits = (1, 0) if spec.kind is int else (0.02, 2)
    while high - low > step:
        middle = round((low + high) / 2, digits)
        if len(encode(middle)) <= limit:
            low = middle
        else:
            high = middle
    return high if len(encode(high)) <= limit else low


def _aimed_search(spec: Param, asked: Encoder, preview: Encoder, limit: float) -> bytes | None:
    """The largest container that fits of at most AIMED_TRIES asked encodes; None if none
    fits. A try is aimed at the value where the preview's size times the last measured
    asked/preview ratio fits, or, once a try fits and one does not, where the line through
    their asked sizes meets the limit (the ratio drifts with the value: aiming by it alone
    missed the answer by 0.7 quality on a real image)."""
    fit: tuple[float, int] | None = None  # the largest value that fitted, and its size
    over: tuple[float, int] | None = None  # the smallest value that did not
    aim, best = limit, None
    tried: set[float] = set()
    while len(tried) < AIMED_TRIES:
        if fit and over:
            value = _secant(spec, fit, over, limit)
        else:
            low, high = fit[0] if fit else spec.low, over[0] if over else spec.high
            value = search(spec, preview, low, high, aim)
        if value is None or value in tried:
            break
        tried.add(value)
        data = asked(value)
        if len(data) <= limit:
            fit, best = (value, len(data)), data
        else:
            over = (value, len(data))
        aim = limit * len(preview(value)) / len(data)
    return best


def _secant(
    spec: Param, fit: tuple[float, int], over: tuple[float, int], limit: float
) -> float | None:
    """The value, rounded down to the search's grid, where the line through the sizes of a
    fitting and an overshooting value meets ``limit`` less LINE_MARGIN; None where no grid
    value lies between the two."""
    (fit_value, fit_size), (over_value, over_size) = fit, over
    aim = max(fit_size, limit * (1 - LINE_MARGIN))
    value = fit_value + (aim - fit_size) * (over_value - fit_value) / (over_size - fit_size)
    grid = 1 if spec.kind is int else 0.01
    value = round(math.floor(value / grid + 1e-9) * grid, 2)
    return value if fit_value < value < over_value else None


def _encoder(
    spec: Param, params: dict[str, Any], pack: Pack, effort: EffortParam | None
) -> Encoder:
    """``pack`` at a value of the rate parameter, each value encoded once; a progress bar
    shows which value (and effort) is being tried."""
    made: dict[float, bytes] = {}
    label = f", {effort.name} {params[effort.name]}" if effort else ""

    def encode(value: float) -> bytes:
        if value not in made:
            with part(0, 1, f"{spec.name} {value:g}{label}"):
                made[value] = pack({**params, spec.name: spec.kind(value)})
        return made[value]

    return encode
