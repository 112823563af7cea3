"""nc-image: learned image coding with hyperprior-family models from the model zoo.

Images are coded in tiles (one tile unless asked, or unless the image is above a memory
budget); each tile is padded by edge replication to the model's multiple and cropped back,
and is decodable on its own, so memory stays bounded whatever the image size. Grayscale
travels as RGB and comes back grey; alpha and 16-bit samples are refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from nccli.codecs.base import Codec, Encoded, Param
from nccli.container.header import CoderRef, Header, ModelRef
from nccli.errors import InvalidInputError, UsageError
from nccli.media.image import Image, convert_mode

#: The keys of nccli.models.image.ARCHITECTURES, named here so that listing codecs does not
#: import torch (a test keeps the two in step).
ARCHITECTURES = ("bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean")
#: Tiles are multiples of the largest model stride.
TILE_MULTIPLE = 64
#: Above this many pixels, and with no --param tile given, images are coded in AUTO_TILE tiles.
AUTO_TILE_ABOVE = 2048 * 2048
AUTO_TILE = 1024


class NeuralImageCodec(Codec):
    name = "nc-image"
    modality = "image"
    version = 1
    description = "learned codec (bmshj2018 / mbt2018 hyperprior family), weights from the zoo"
    params = (
        Param("quality", int, 1, 8, 4, "zoo quality level: higher spends more bits"),
        Param("arch", str, 0, 0, "mbt2018-mean", "architecture", ARCHITECTURES),
        Param("metric", str, 0, 0, "mse", "what the weights were trained for", ("mse", "ms-ssim")),
        Param("tile", int, 0, 8192, 0, "tile side, a multiple of 64 (0: automatic)"),
    )
    rate_param = "quality"
    sweep = (1, 2, 3, 4, 5, 6, 7, 8)

    def identity(self, params: dict[str, Any]) -> str:
        from nccli.zoo.paths import sha256_of, weights_path

        path = weights_path(model_id(params))
        return sha256_of(path) if path.exists() else "missing"

    def check(self, media: Image) -> None:
        if media.has_alpha:
            raise UsageError("nc-image cannot keep the alpha channel; use webp, avif or png")
        if media.bit_depth == 16:
            raise UsageError("nc-image codes 8-bit samples; use png for 16-bit images")

    def encode(self, media: Image, params: dict[str, Any]) -> Encoded:
        import torch
        import torch.nn.functional as F

        from nccli.entropy import CODER_NAME, CODER_VERSION
        from nccli.zoo.store import load_model

        tile = params["tile"]
        if tile % TILE_MULTIPLE:
            raise UsageError(f"tile must be a multiple of {TILE_MULTIPLE}, not {tile}")
        if tile == 0 and media.width * media.height > AUTO_TILE_ABOVE:
            tile = AUTO_TILE
        model, digest = load_model(model_id(params))
        rgb = convert_mode(media, "RGB").pixels
        chunks: list[bytes] = []
        for top, left, height, width in tiles(media.height, media.width, tile):
            crop = np.ascontiguousarray(rgb[top : top + height, left : left + width])
            x = torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 255
            pad = (0, -width % model.downsampling, 0, -height % model.downsampling)
            tile_chunks, _ = model.compress(F.pad(x, pad, mode="replicate"))
            chunks.extend(tile_chunks)
        return Encoded(
            chunks,
            fields={"tile": tile},
            model=ModelRef(model_id(params), digest),
            entropy_coder=CoderRef(CODER_NAME, CODER_VERSION),
        )

    def decode(self, header: Header, chunks: list[bytes]) -> Image:
        import torch

        from nccli.zoo.store import load_model

        if header.model is None:
            raise InvalidInputError("nc-image file names no model")
        model, digest = load_model(header.model.id)
        if digest != header.model.sha256:
            raise InvalidInputError(
                f"file was made with {header.model.id} weights of sha256 "
                f"{header.model.sha256[:12]}..., the store has {digest[:12]}...: "
                "pull or import the same weights"
            )
        tile = header.fields.get("tile")
        if not isinstance(tile, int) or isinstance(tile, bool) or tile < 0 or tile % TILE_MULTIPLE:
            raise InvalidInputError(f"nc-image tile size {tile!r} is invalid")
        width, height = header.media["width"], header.media["height"]
        grid = list(tiles(height, width, tile))
        per_tile = 1 if "factorized" in header.model.id else 2
        if len(chunks) != per_tile * len(grid):
            raise InvalidInputError(
                f"nc-image payload has {len(chunks)} chunks, {per_tile * len(grid)} expected"
            )
        pixels = np.empty((height, width, 3), dtype=np.uint8)
        ds = model.downsampling
        for index, (top, left, h, w) in enumerate(grid):
            latent = (-(-h // ds), -(-w // ds))
            own = chunks[index * per_tile : (index + 1) * per_tile]
            x_hat = model.decompress(own, latent)[0, :, :h, :w]
            out = torch.round(x_hat * 255).to(torch.uint8).permute(1, 2, 0).numpy()
            pixels[top : top + h, left : left + w] = out
        return Image(pixels)


def model_id(params: dict[str, Any]) -> str:
    """The zoo id of the weights a parameter set asks for."""
    return f"{params['arch']}-{params['metric']}-q{params['quality']}"


def tiles(height: int, width: int, tile: int) -> Iterator[tuple[int, int, int, int]]:
    """(top, left, height, width) of each tile in row-major order; tile 0 means one tile."""
    if tile == 0:
        yield 0, 0, height, width
        return
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            yield top, left, min(tile, height - top), min(tile, width - left)
