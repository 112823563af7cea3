"""Lossless PNG inside .ncc: every mode at 8 or 16 bits per sample, bit-exact."""

from __future__ import annotations

import io
from typing import Any

from nccli.codecs.base import Codec, Encoded, Param
from nccli.container.header import Header
from nccli.errors import InvalidInputError
from nccli.media.image import Image, read_image, write_image


class PngCodec(Codec):
    name = "png"
    modality = "image"
    version = 1
    lossless = True
    description = "PNG, lossless for every mode at 8 and 16 bits"
    params = (Param("level", int, 0, 9, 9, "zlib effort: higher is slower and smaller"),)

    def encode(self, media: Image, params: dict[str, Any]) -> Encoded:
        bare = Image(media.pixels)  # the ICC profile travels in its own container chunk
        if media.bit_depth == 16 and media.channels > 1:
            return Encoded([write_image(bare, ".png")])
        buffer = io.BytesIO()
        bare.to_pil().save(buffer, format="PNG", compress_level=params["level"])
        return Encoded([buffer.getvalue()])

    def decode(self, header: Header, chunks: list[bytes]) -> Image:
        if len(chunks) != 1:
            raise InvalidInputError(f"png payload must be one chunk, not {len(chunks)}")
        if not chunks[0].startswith(b"\x89PNG"):
            raise InvalidInputError("png payload is not a PNG stream")
        return read_image(chunks[0])
