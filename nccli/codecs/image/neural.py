"""nc-image: learned image coding with hyperprior-family models from the model zoo."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nccli.codecs.base import Param
from nccli.codecs.image.learned import (
    TILE_PARAM,
    LearnedImageCodec,
    TileDecoder,
    TileEncoder,
    check_digest,
)
from nccli.container.header import Header, ModelRef

if TYPE_CHECKING:
    import torch

#: The keys of nccli.models.image.ARCHITECTURES, named here so that listing codecs does not
#: import torch (a test keeps the two in step).
ARCHITECTURES = (
    "bmshj2018-factorized",
    "bmshj2018-hyperprior",
    "mbt2018-mean",
    "mbt2018",
    "cheng2020-anchor",
)


class NeuralImageCodec(LearnedImageCodec):
    name = "nc-image"
    version = 2  # 2: marks grey images, whose decoded channels are averaged (1 still decodes)
    description = "learned codec (bmshj2018 / mbt2018 hyperprior family), weights from the zoo"
    params = (
        Param("quality", int, 1, 8, 4, "zoo quality level: higher spends more bits"),
        Param("arch", str, 0, 0, "mbt2018-mean", "architecture", ARCHITECTURES),
        Param("metric", str, 0, 0, "mse", "what the weights were trained for", ("mse", "ms-ssim")),
        TILE_PARAM,
    )
    rate_param = "quality"
    sweep = (1, 2, 3, 4, 5, 6, 7, 8)

    def identity(self, params: dict[str, Any]) -> str:
        from nccli.zoo.paths import weights_identity

        return weights_identity(model_id(params))

    def tile_encoder(
        self, params: dict[str, Any], device: torch.device
    ) -> tuple[TileEncoder, int, ModelRef]:
        from nccli.zoo.store import load_model

        model, digest = load_model(model_id(params))
        model.to(device)
        return (
            (lambda x, _: model.compress(x)[0]),
            model.downsampling,
            ModelRef(model_id(params), digest),
        )

    def tile_decoder(self, header: Header, device: torch.device) -> tuple[TileDecoder, int, int]:
        from nccli.zoo.store import load_model

        assert header.model is not None
        model, digest = load_model(header.model.id)
        model.to(device)
        check_digest(
            header.model.id, header.model.sha256, digest, "pull or import the same weights"
        )
        per_tile = 1 if "factorized" in header.model.id else 2
        return model.decompress, model.downsampling, per_tile


def model_id(params: dict[str, Any]) -> str:
    """The zoo id of the weights a parameter set asks for."""
    return f"{params['arch']}-{params['metric']}-q{params['quality']}"
