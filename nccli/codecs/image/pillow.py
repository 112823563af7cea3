"""Classical lossy image codecs through Pillow: JPEG, WebP, AVIF and JPEG 2000."""

from __future__ import annotations

import io
from typing import Any, ClassVar

import numpy as np
import PIL.features
import PIL.Image

from nccli.codecs.base import Codec, Encoded, Param
from nccli.container.header import Header
from nccli.errors import InvalidInputError, UsageError
from nccli.media.image import Image, convert_mode

_QUALITY_HELP = "higher keeps more detail and spends more bits"


class PillowCodec(Codec):
    """A codec whose payload is one file in a format Pillow reads and writes."""

    modality = "image"
    version = 1
    rate_param = "quality"
    pil_format: ClassVar[str]
    #: The PIL.features name of the library this format codes with.
    feature: ClassVar[str]
    keeps_alpha: ClassVar[bool] = True
    #: Modes kept at 16 bits per sample; other 16-bit images are refused.
    sixteen_bit_modes: ClassVar[frozenset[str]] = frozenset()

    def identity(self, params: dict[str, Any]) -> str:
        """Pillow's version and that of the library it codes with: another libwebp (say) may
        give other bytes for the same image."""
        return f"Pillow {PIL.__version__}, {self.feature} {PIL.features.version(self.feature)}"

    def unavailable_reason(self) -> str | None:
        if not PIL.features.check(self.feature):
            return f"this Pillow build has no {self.pil_format} support"
        return None

    def check(self, media: Image) -> None:
        if media.has_alpha and not self.keeps_alpha:
            raise UsageError(
                f"{self.name} cannot keep the alpha channel; use webp, avif, jpeg2000 or png"
            )
        if media.bit_depth == 16 and media.mode not in self.sixteen_bit_modes:
            raise UsageError(
                f"{self.name} cannot keep 16-bit {media.mode} samples; use png (lossless) or "
                "convert the input to 8 bits"
            )

    def encode(self, media: Image, params: dict[str, Any]) -> Encoded:
        buffer = io.BytesIO()
        self.prepare(media).save(buffer, format=self.pil_format, **self.save_options(params))
        return Encoded([buffer.getvalue()])

    def decode(self, header: Header, chunks: list[bytes]) -> Image:
        if len(chunks) != 1:
            raise InvalidInputError(f"{self.name} payload must be one chunk, not {len(chunks)}")
        try:
            with PIL.Image.open(io.BytesIO(chunks[0])) as im:
                im.load()
                pixels = np.asarray(im)
        except (OSError, SyntaxError, ValueError) as exc:
            raise InvalidInputError(f"corrupt {self.name} payload: {exc}") from None
        if pixels.dtype not in (np.uint8, np.uint16):
            pixels = pixels.astype(np.uint16)
        return Image(pixels)

    def prepare(self, media: Image) -> PIL.Image.Image:
        """The Pillow image handed to the encoder."""
        return media.to_pil()

    def save_options(self, params: dict[str, Any]) -> dict[str, Any]:
        """Keyword arguments of Image.save for these parameters."""
        return {"quality": params["quality"]}


class JpegCodec(PillowCodec):
    name = "jpeg"
    description = "JPEG (libjpeg via Pillow), 4:2:0, optimised Huffman tables"
    pil_format = "JPEG"
    feature = "jpg"
    keeps_alpha = False
    params = (Param("quality", int, 1, 100, 85, _QUALITY_HELP),)
    sweep = (15, 30, 45, 60, 75, 90)

    def save_options(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"quality": params["quality"], "optimize": True}


class WebpCodec(PillowCodec):
    name = "webp"
    description = "WebP lossy (libwebp via Pillow), slowest and best method"
    pil_format = "WEBP"
    feature = "webp"
    params = (Param("quality", int, 0, 100, 80, _QUALITY_HELP),)
    sweep = (10, 30, 50, 70, 85, 95)

    def prepare(self, media: Image) -> PIL.Image.Image:
        # WebP has no grayscale: grey images travel as RGB and the header restores the mode.
        if media.channels < 3:
            media = convert_mode(media, "RGBA" if media.has_alpha else "RGB")
        return media.to_pil()

    def save_options(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"quality": params["quality"], "method": 6}


class AvifCodec(PillowCodec):
    name = "avif"
    description = "AVIF (libavif/AOM via Pillow), 4:2:0"
    pil_format = "AVIF"
    feature = "avif"
    params = (
        Param("quality", int, 0, 100, 60, _QUALITY_HELP),
        Param("speed", int, 0, 10, 6, "encoder speed: lower is slower and smaller"),
    )
    sweep = (20, 35, 50, 60, 70, 80)

    def prepare(self, media: Image) -> PIL.Image.Image:
        # Pillow's AVIF writer takes L, RGB and RGBA; grey+alpha goes as RGBA.
        if media.mode == "LA":
            media = convert_mode(media, "RGBA")
        return media.to_pil()

    def save_options(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"quality": params["quality"], "speed": params["speed"]}


class Jpeg2000Codec(PillowCodec):
    name = "jpeg2000"
    description = "JPEG 2000 (OpenJPEG via Pillow), 9/7 wavelet, quality as target PSNR in dB"
    pil_format = "JPEG2000"
    feature = "jpg_2000"
    sixteen_bit_modes = frozenset({"L"})
    params = (Param("quality", float, 20, 80, 40, "target PSNR in dB; higher spends more bits"),)
    sweep = (26.0, 29.0, 32.0, 35.0, 38.0, 41.0)

    def save_options(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "quality_mode": "dB",
            "quality_layers": [params["quality"]],
            "irreversible": True,
            "no_jp2": True,
        }
