"""Running codecs on images, or comparing reference/decoded pairs, into result rows."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nccli import api
from nccli.codecs.base import get_codec
from nccli.errors import NccliError, UsageError
from nccli.media.image import Image, read_image
from nccli.metrics import ms_ssim, psnr, psnr_y

METRICS = ("psnr", "psnr_y", "ms_ssim", "bpp")


@dataclass
class Row:
    """One measured (input, setting) pair; ``error`` is set instead of metrics on failure."""

    input: str
    codec: str | None
    #: What was asked for (codec parameters and any bpp target); rows are grouped by it.
    request: dict[str, Any] = field(default_factory=dict)
    #: The parameters the file was actually coded with (differ from request under --bpp).
    params: dict[str, Any] = field(default_factory=dict)
    bytes: int | None = None
    bpp: float | None = None
    psnr: float | None = None
    psnr_y: float | None = None
    ms_ssim: float | None = None
    error: str | None = None
    exit_code: int = 0

    @property
    def setting(self) -> str:
        """The codec and requested parameters as one label, e.g. 'webp quality=80'."""
        values = " ".join(f"{k}={v}" for k, v in sorted(self.request.items()))
        return " ".join(filter(None, [self.codec or "decoded", values]))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: infinite PSNR (identical images) becomes null with identical=true."""
        data = asdict(self)
        data["setting"] = self.setting
        data["identical"] = self.psnr == math.inf
        for name in ("psnr", "psnr_y"):
            if data[name] is not None and math.isinf(data[name]):
                data[name] = None
        return data


def measure(reference: Image, decoded: Image, size: int | None) -> dict[str, Any]:
    """Metrics of one decoded image against its reference; bpp from a real file size."""
    if (reference.width, reference.height) != (decoded.width, decoded.height):
        raise UsageError(
            f"sizes differ: reference {reference.width}x{reference.height}, "
            f"decoded {decoded.width}x{decoded.height}"
        )
    a, b = reference.pixels, decoded.pixels
    if a.shape[2] != b.shape[2] and {a.shape[2], b.shape[2]} - {3, 4}:
        raise UsageError(f"channel counts differ: {a.shape[2]} vs {b.shape[2]}")
    colours = min(a.shape[2], b.shape[2], 3)
    a, b = a[:, :, :colours], b[:, :, :colours]
    return {
        "bytes": size,
        "bpp": None if size is None else size * 8 / (reference.width * reference.height),
        "psnr": psnr(a, b),
        "psnr_y": psnr_y(a, b),
        "ms_ssim": ms_ssim(a, b),
    }


def run_codec(path: Path, codec: str, params: dict[str, Any], bpp: float | None = None) -> Row:
    """Encode one image with a codec (in memory), decode it and measure it."""
    row = Row(str(path), codec)
    try:
        row.request = get_codec(codec).resolve_params(params)
        if bpp is not None:
            row.request = {"bpp": bpp}
        reference = read_image(path.read_bytes())
        data = api.encode(reference, codec, bpp=bpp, **params)
        decoded = api.decode_media(data)
        row.params = decoded.header.params
        _fill(row, measure(reference, decoded.media, len(data)))
    except (NccliError, OSError) as exc:
        _fail(row, exc)
    return row


def compare_pair(reference_path: Path, decoded_path: Path) -> Row:
    """Measure a decoded file (image, or .ncc decoded here) against its reference."""
    row = Row(str(reference_path), None)
    try:
        reference = read_image(reference_path.read_bytes())
        data = decoded_path.read_bytes()
        if decoded_path.suffix.lower() == ".ncc":
            decoded = api.decode_media(data)
            row.codec, row.params = decoded.header.codec, decoded.header.params
            row.request = row.params
            _fill(row, measure(reference, decoded.media, len(data)))
        else:
            _fill(row, measure(reference, read_image(data), None))
    except (NccliError, OSError) as exc:
        _fail(row, exc)
    return row


def params_key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True)


def _fill(row: Row, values: dict[str, Any]) -> None:
    for name, value in values.items():
        setattr(row, name, value)


def _fail(row: Row, exc: Exception) -> None:
    row.error = str(exc) if isinstance(exc, NccliError) else f"cannot read: {exc.strerror or exc}"
    row.exit_code = exc.exit_code if isinstance(exc, NccliError) else 2
