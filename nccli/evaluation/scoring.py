"""Scores of one decoded image or audio signal against its reference, rate from a file size."""

from __future__ import annotations

import io
import math
from typing import Any

from nccli.errors import UsageError
from nccli.media.audio import Audio, is_audio_path, read_audio
from nccli.media.image import Image, read_image
from nccli.metrics import mel_distance, ms_ssim, psnr, psnr_y, si_sdr, stft_distance
from nccli.metrics.speech import pesq_wb, stoi
from nccli.metrics.visqol import available as visqol_available
from nccli.metrics.visqol import visqol


def reference_modality(path: str) -> str:
    """The modality of a reference file, by its suffix."""
    return "audio" if is_audio_path(path) else "image"


def read_media(data: bytes, modality: str) -> Image | Audio:
    """A reference or decoded file's contents as an Image or Audio."""
    return read_audio(io.BytesIO(data)) if modality == "audio" else read_image(data)


def optional_metrics(modality: str, with_visqol: bool) -> tuple[str, ...]:
    """The optional metrics asked for, refused where they do not apply or are missing."""
    if not with_visqol:
        return ()
    if modality != "audio":
        raise UsageError("--visqol is for audio")
    if not visqol_available():
        raise UsageError("--visqol needs visqol-python: pip install 'nccli[visqol]'")
    return ("visqol",)


def score(
    reference: Image | Audio,
    decoded: Image | Audio,
    size: int | None,
    optional: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The metrics of a decoded image or signal against its reference, with the optional
    ones asked for; the rate (bpp or kbit/s) from ``size``, the real file size in bytes
    (None: no rate)."""
    if isinstance(reference, Audio) and isinstance(decoded, Audio):
        return score_audio(reference, decoded, size, "visqol" in optional)
    if isinstance(reference, Image) and isinstance(decoded, Image):
        return score_image(reference, decoded, size)
    raise UsageError("cannot compare an image with audio")


def score_image(reference: Image, decoded: Image, size: int | None) -> dict[str, Any]:
    """PSNR, PSNR-Y and MS-SSIM over the colour channels (alpha left out), and bpp."""
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


def score_audio(
    reference: Audio, decoded: Audio, size: int | None, with_visqol: bool = False
) -> dict[str, Any]:
    """SI-SDR, mel and STFT distances at the reference's rate, STOI and wide-band PESQ at
    16 kHz, ViSQOL (audio mode, 48 kHz) if asked for, and kbit/s over the reference's
    duration. A metric that the signals leave undefined (SI-SDR of silence, PESQ of a blip)
    is None."""
    ref, dec = reference.info, decoded.info
    for what, a, b in (
        ("sample rates", f"{ref.sample_rate} Hz", f"{dec.sample_rate} Hz"),
        ("channel counts", ref.channels, dec.channels),
        ("lengths", f"{ref.frames} frames", f"{dec.frames} frames"),
    ):
        if a != b:
            raise UsageError(f"{what} differ: reference {a}, decoded {b}")
    x, y, rate = reference.samples, decoded.samples, ref.sample_rate
    values = {
        "si_sdr": si_sdr(x, y),
        "mel_distance": mel_distance(x, y, rate),
        "stft_distance": stft_distance(x, y),
        "stoi": stoi(x, y, rate),
        "pesq": pesq_wb(x, y, rate),
    }
    if with_visqol:
        values["visqol"] = visqol(x, y, rate)
    return {
        "bytes": size,
        "kbps": None if size is None else size * 8 / ref.seconds / 1000,
        **{k: v if v is not None and math.isfinite(v) else None for k, v in values.items()},
    }
