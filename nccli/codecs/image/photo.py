"""nc-photo: nccli's own variable-rate learned image codec, weights shipped in the package.

One network (nccli.models.image.variable_rate) covers the whole rate range: --quality is a
real number from 1 to 8, mapped onto the model's continuous rate levels 0..7, so --bpp can
aim between levels. The model card is configs/nc-photo.toml. --effort above fast refines
each tile's latents for that image at encode time (nccli.models.image.refine): fewer bits at
equal quality for seconds (default) or minutes (max) on a CPU; files decode the same way
whatever the effort.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nccli.codecs.base import Param
from nccli.codecs.effort import effort_param
from nccli.codecs.image.learned import (
    TILE_PARAM,
    LearnedImageCodec,
    TileDecoder,
    TileEncoder,
    check_digest,
)
from nccli.container.header import Header, ModelRef
from nccli.errors import InvalidInputError, UsageError

if TYPE_CHECKING:
    import torch

MODEL = "nc-photo"
QUALITY = Param("quality", float, 1, 8, 4, "rate level, any real number: higher spends more bits")
#: Refinement steps of each named effort: a step takes 0.45-1.2 s for a 768x512 image on 2
#: CPU cores, so default spends 15-35 s and max 2.5-6 minutes there (docs/codecs.md).
EFFORT = effort_param({"fast": 0, "default": 30, "max": 300}, 0, 100_000, "refinement steps")


class PhotoCodec(LearnedImageCodec):
    name = "nc-photo"
    version = 2  # 2: marks grey images, whose decoded channels are averaged (1 still decodes)
    description = "nccli's own learned codec for photographs (embedded weights, no download)"
    params = (QUALITY, EFFORT, TILE_PARAM)
    rate_param = "quality"
    sweep = (1, 2, 3, 4, 5, 6, 7, 8)

    def identity(self, params: dict[str, Any]) -> str:
        from nccli.zoo import embedded
        from nccli.zoo.paths import sha256_of

        path = embedded.path_of(MODEL)
        return sha256_of(path) if path.is_file() else "missing"

    def unavailable_reason(self) -> str | None:
        from nccli.zoo import embedded

        path = embedded.path_of(MODEL)
        return None if path.is_file() else f"its weights {path} are missing"

    def tile_encoder(
        self, params: dict[str, Any], device: torch.device
    ) -> tuple[TileEncoder, int, ModelRef]:
        import torch

        from nccli.codecs.progress import report
        from nccli.models.image.refine import refine_latents
        from nccli.models.image.variable_rate import lambda_at
        from nccli.zoo import embedded

        model, digest = embedded.load(MODEL)
        model.to(device)
        level = torch.tensor([params["quality"] - 1])
        gains = model.gains(level)
        lam = float(lambda_at(level))
        steps = EFFORT.steps(params["effort"])

        def encode_tile(x: torch.Tensor, valid: tuple[int, int]) -> list[bytes]:
            y, z = model.analyse(x, gains)
            if steps:
                y, z = refine_latents(
                    model, x, y, z, gains, lam, steps, valid,
                    on_step=lambda done, bpp, psnr: report(
                        done / steps, f"step {done}/{steps}: {bpp:.3f} bpp, {psnr:.2f} dB"
                    ),
                )  # fmt: skip
            return model.compress_latents(y, z, gains=gains)[0]

        return encode_tile, model.downsampling, ModelRef(MODEL, digest)

    def tile_decoder(self, header: Header, device: torch.device) -> tuple[TileDecoder, int, int]:
        import torch

        from nccli.zoo import embedded

        assert header.model is not None
        if header.model.id != MODEL:
            raise InvalidInputError(f"nc-photo file names model {header.model.id!r}, not {MODEL}")
        model, digest = embedded.load(MODEL)
        model.to(device)
        check_digest(
            MODEL, header.model.sha256, digest,
            "decode it with the nccli release that wrote it (see its writer field)",
        )  # fmt: skip
        quality = header.params.get("quality")
        if isinstance(quality, bool) or not isinstance(quality, (int, float)):
            raise InvalidInputError(f"nc-photo quality {quality!r} is invalid")
        try:
            QUALITY.parse(quality)
        except UsageError:
            raise InvalidInputError(f"nc-photo quality {quality!r} is out of range") from None
        gains = model.gains(torch.tensor([float(quality) - 1]))

        def decode_tile(chunks: list[bytes], shape: tuple[int, int]) -> Any:
            return model.decompress(chunks, shape, gains=gains)

        return decode_tile, model.downsampling, 2
