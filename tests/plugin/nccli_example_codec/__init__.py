"""A tiny lossless backend from outside nccli: raw samples compressed with zstd."""

from __future__ import annotations

from typing import Any

import numpy as np
import zstandard

from nccli.codecs.base import Codec, Encoded, Param
from nccli.container import Header
from nccli.errors import InvalidInputError
from nccli.media import Image


class ZstdRawCodec(Codec):
    name = "zraw"
    modality = "image"
    version = 1
    lossless = True
    description = "raw samples + zstd (example plug-in)"
    params = (Param("level", int, 1, 19, 3, "zstd level"),)

    def encode(self, media: Image, params: dict[str, Any]) -> Encoded:
        raw = media.pixels.astype(media.pixels.dtype.newbyteorder("<")).tobytes()
        data = zstandard.ZstdCompressor(level=params["level"]).compress(raw)
        return Encoded([data], fields={"dtype": media.pixels.dtype.str})

    def decode(self, header: Header, chunks: list[bytes]) -> Image:
        media = header.media
        channels = len(media["mode"])
        dtype = np.dtype("<u2" if media["bit_depth"] == 16 else "u1")
        size = media["width"] * media["height"] * channels * dtype.itemsize
        try:
            raw = zstandard.ZstdDecompressor().decompress(chunks[0], max_output_size=size)
        except zstandard.ZstdError as exc:
            raise InvalidInputError(f"corrupt zraw payload: {exc}") from None
        if len(raw) != size:
            raise InvalidInputError("zraw payload has the wrong size")
        pixels = np.frombuffer(raw, dtype).reshape(media["height"], media["width"], channels)
        return Image(pixels.astype(dtype.newbyteorder("=")))
