"""What the learned image codecs share: tiling, padding, pixel conversion and checks.

Images are coded in tiles (one tile unless asked, or unless the image is above a memory
budget); each tile is padded by edge replication to the model's multiple and cropped back,
and is decodable on its own, so memory stays bounded whatever the image size. Grayscale
travels as RGB and comes back grey; alpha and 16-bit samples are refused. An image whose
three channels are equal everywhere (grey, whatever its mode) is marked ``grey`` in the
header, and its decoded channels are averaged: the models code RGB and would otherwise give
it a faint tint (the average is also closer to it, about 0.3 dB with nc-photo).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from nccli.codecs.base import Codec, Encoded, Param
from nccli.container.header import CoderRef, Header, ModelRef
from nccli.errors import InvalidInputError, UsageError
from nccli.media.image import Image, convert_mode

if TYPE_CHECKING:
    import torch

#: Tiles are multiples of the largest model stride.
TILE_MULTIPLE = 64
#: Above this many pixels, and with no --param tile given, images are coded in AUTO_TILE tiles.
AUTO_TILE_ABOVE = 2048 * 2048
AUTO_TILE = 1024
TILE_PARAM = Param("tile", int, 0, 8192, 0, "tile side, a multiple of 64 (0: automatic)")

#: Codes one padded tile (1, 3, H, W) in [0, 1], whose top-left (height, width) is image and
#: the rest edge padding, into chunks.
TileEncoder = Callable[[Any, tuple[int, int]], list[bytes]]
#: Decodes one tile's chunks, given the latent shape of the padded tile, into (1, 3, H, W).
TileDecoder = Callable[[list[bytes], tuple[int, int]], Any]


class LearnedImageCodec(Codec):
    """A tiled learned image codec; subclasses supply the model and its per-tile coding."""

    modality = "image"

    @abstractmethod
    def tile_encoder(
        self, params: dict[str, Any], device: torch.device
    ) -> tuple[TileEncoder, int, ModelRef]:
        """The tile coder on a device for these parameters, the model's stride, and the
        weights' ref."""

    @abstractmethod
    def tile_decoder(self, header: Header, device: torch.device) -> tuple[TileDecoder, int, int]:
        """The tile decoder on a device for a file, the model's stride, and chunks per tile."""

    def check(self, media: Image) -> None:
        refuse_alpha_and_16_bit(self.name, media)

    def encode(self, media: Image, params: dict[str, Any]) -> Encoded:
        import torch
        import torch.nn.functional as F

        from nccli.codecs.device import torch_device
        from nccli.codecs.progress import part
        from nccli.entropy import CODER_NAME, CODER_VERSION

        device = torch_device()
        tile = params["tile"]
        if tile % TILE_MULTIPLE:
            raise UsageError(f"tile must be a multiple of {TILE_MULTIPLE}, not {tile}")
        if tile == 0 and media.width * media.height > AUTO_TILE_ABOVE:
            tile = AUTO_TILE
        code, stride, model = self.tile_encoder(params, device)
        rgb = convert_mode(media, "RGB").pixels
        grey = is_grey(rgb)
        chunks: list[bytes] = []
        grid = list(tiles(media.height, media.width, tile))
        for index, (top, left, height, width) in enumerate(grid):
            crop = np.array(rgb[top : top + height, left : left + width])
            x = torch.from_numpy(crop).permute(2, 0, 1)[None].to(device).float() / 255
            pad = (0, -width % stride, 0, -height % stride)
            with part(index, len(grid), f"tile {index + 1}/{len(grid)}"):
                chunks.extend(code(F.pad(x, pad, mode="replicate"), (height, width)))
        return Encoded(
            chunks,
            fields={"tile": tile, **({"grey": True} if grey else {})},
            model=model,
            entropy_coder=CoderRef(CODER_NAME, CODER_VERSION),
        )

    def decode(self, header: Header, chunks: list[bytes]) -> Image:
        import torch

        from nccli.codecs.device import torch_device

        if header.model is None:
            raise InvalidInputError(f"{self.name} file names no model")
        decode_tile, stride, per_tile = self.tile_decoder(header, torch_device())
        tile = header.fields.get("tile")
        if not isinstance(tile, int) or isinstance(tile, bool) or tile < 0 or tile % TILE_MULTIPLE:
            raise InvalidInputError(f"{self.name} tile size {tile!r} is invalid")
        grey = header.fields.get("grey", False)
        if not isinstance(grey, bool):
            raise InvalidInputError(f"{self.name} grey flag {grey!r} is invalid")
        width, height = header.media["width"], header.media["height"]
        grid = list(tiles(height, width, tile))
        if len(chunks) != per_tile * len(grid):
            raise InvalidInputError(
                f"{self.name} payload has {len(chunks)} chunks, {per_tile * len(grid)} expected"
            )
        pixels = np.empty((height, width, 3), dtype=np.uint8)
        for index, (top, left, h, w) in enumerate(grid):
            latent = (-(-h // stride), -(-w // stride))
            own = chunks[index * per_tile : (index + 1) * per_tile]
            x_hat = decode_tile(own, latent)[0, :, :h, :w]
            if grey:
                x_hat = x_hat.mean(0, keepdim=True).expand(3, -1, -1)
            out = torch.round(x_hat * 255).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
            pixels[top : top + h, left : left + w] = out
        return Image(pixels)


def is_grey(rgb: np.ndarray) -> bool:
    """Whether an H x W x 3 image has the same value in all three channels everywhere."""
    return bool((rgb[:, :, 0] == rgb[:, :, 1]).all() and (rgb[:, :, 1] == rgb[:, :, 2]).all())


def refuse_alpha_and_16_bit(codec: str, media: Image) -> None:
    """The learned codecs code 8-bit RGB (grey travels as RGB): refuse what they would lose."""
    if media.has_alpha:
        raise UsageError(f"{codec} cannot keep the alpha channel; use webp, avif or png")
    if media.bit_depth == 16:
        raise UsageError(f"{codec} codes 8-bit samples; use png for 16-bit images")


def check_digest(model_id: str, expected: str, actual: str, remedy: str) -> None:
    """Refuse a file whose weights digest differs from the weights at hand."""
    if actual != expected:
        raise InvalidInputError(
            f"file was made with {model_id} weights of sha256 {expected[:12]}..., "
            f"the weights here have {actual[:12]}...: {remedy}"
        )


def tiles(height: int, width: int, tile: int) -> Iterator[tuple[int, int, int, int]]:
    """(top, left, height, width) of each tile in row-major order; tile 0 means one tile."""
    if tile == 0:
        yield 0, 0, height, width
        return
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            yield top, left, min(tile, height - top), min(tile, width - left)
