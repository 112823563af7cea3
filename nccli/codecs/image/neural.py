"""nc-image: learned image coding with hyperprior-family models from the model zoo.

Images of any size are padded (edge replication) to the model's multiple and cropped back.
Grayscale travels as RGB and comes back grey; alpha and 16-bit samples are refused.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nccli.codecs.base import Codec, Encoded, Param
from nccli.container.header import CoderRef, Header, ModelRef
from nccli.errors import InvalidInputError, UsageError
from nccli.media.image import Image, convert_mode

#: The keys of nccli.models.image.ARCHITECTURES, named here so that listing codecs does not
#: import torch (a test keeps the two in step).
ARCHITECTURES = ("bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean")


class NeuralImageCodec(Codec):
    name = "nc-image"
    modality = "image"
    version = 1
    description = "learned codec (bmshj2018 / mbt2018 hyperprior family), weights from the zoo"
    params = (
        Param("quality", int, 1, 8, 4, "zoo quality level: higher spends more bits"),
        Param("arch", str, 0, 0, "mbt2018-mean", "architecture", ARCHITECTURES),
        Param("metric", str, 0, 0, "mse", "what the weights were trained for", ("mse", "ms-ssim")),
    )
    rate_param = "quality"
    sweep = (1, 2, 3, 4, 5, 6, 7, 8)

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

        model_id = f"{params['arch']}-{params['metric']}-q{params['quality']}"
        model, digest = load_model(model_id)
        rgb = convert_mode(media, "RGB").pixels
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255
        multiple = model.downsampling
        pad_h, pad_w = -media.height % multiple, -media.width % multiple
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        chunks, shape = model.compress(x)
        return Encoded(
            chunks,
            fields={"latent_shape": list(shape)},
            model=ModelRef(model_id, digest),
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
        width, height = header.media["width"], header.media["height"]
        expected = [math.ceil(height / model.downsampling), math.ceil(width / model.downsampling)]
        if header.fields.get("latent_shape") != expected:
            raise InvalidInputError(
                f"latent shape {header.fields.get('latent_shape')} does not fit"
            )
        if len(chunks) != (1 if "factorized" in header.model.id else 2):
            raise InvalidInputError(f"nc-image payload has {len(chunks)} chunks")
        x_hat = model.decompress(chunks, tuple(expected))[0, :, :height, :width]
        pixels = torch.round(x_hat * 255).to(torch.uint8).permute(1, 2, 0).numpy()
        return Image(np.ascontiguousarray(pixels))
