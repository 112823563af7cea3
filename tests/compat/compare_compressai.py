"""Run nccli's image models beside CompressAI's with the same random weights; print JSON.

Run by tests/test_compat_compressai.py in a process whose path holds the CompressAI
installation made by `make install` (.venv/compat) and tests/compat/stubs.
"""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np
import torch
from compressai.zoo import (
    bmshj2018_factorized,
    bmshj2018_hyperprior,
    cheng2020_anchor,
    mbt2018,
    mbt2018_mean,
)

from nccli.models.image import (
    Cheng2020Anchor,
    FactorizedPrior,
    JointAutoregressiveHyperprior,
    MeanScaleHyperprior,
    ScaleHyperprior,
)
from nccli.zoo.compressai import load_into

warnings.filterwarnings("ignore")
PAIRS = {
    "bmshj2018-factorized": (bmshj2018_factorized, FactorizedPrior),
    "bmshj2018-hyperprior": (bmshj2018_hyperprior, ScaleHyperprior),
    "mbt2018-mean": (mbt2018_mean, MeanScaleHyperprior),
    "mbt2018": (mbt2018, JointAutoregressiveHyperprior),
    "cheng2020-anchor": (cheng2020_anchor, Cheng2020Anchor),
}
#: Architectures coded on the exact path only (their means steer a context model).
AUTOREGRESSIVE = ("mbt2018", "cheng2020-anchor")


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute difference relative to the largest magnitude of the reference."""
    return float((a - b).abs().max() / b.abs().max().clamp(min=1e-12))


def psnr(decoded: torch.Tensor, original: torch.Tensor) -> float:
    return float(-10 * torch.log10(((decoded.clamp(0, 1) - original) ** 2).mean()))


def compare(name: str, quality: int, image: torch.Tensor) -> dict[str, float]:
    build, ours_class = PAIRS[name]
    torch.manual_seed(quality)
    ref = build(quality=quality, pretrained=False).eval()
    with torch.no_grad():  # move away from the symmetric initial values
        for key, parameter in ref.named_parameters():
            if "quantiles" not in key:
                parameter.add_(torch.randn_like(parameter) * 0.01)
    ref.update(force=True)
    channels = next(ref.g_a.parameters()).shape[0]
    ours = ours_class(channels, ref.g_a[6].out_channels).eval()
    load_into(ours, ref.state_dict())
    result: dict[str, float] = {}
    with torch.no_grad():
        theirs_out, ours_out = ref(image), ours(image)
        y_ref, y_ours = ref.g_a(image), ours.g_a(image)
        result["y"] = relative(y_ours, y_ref)
        if name == "bmshj2018-factorized":
            medians = ref.entropy_bottleneck._get_medians()
            y_hat_ref = ref.entropy_bottleneck.quantize(y_ref, "dequantize", medians)
            y_hat_ours = ours.entropy_bottleneck.quantize(y_ours, noise=False)
        else:
            z = ref.h_a(ours.hyper_input(y_ref))
            z_hat = ref.entropy_bottleneck.quantize(
                z, "dequantize", ref.entropy_bottleneck._get_medians()
            )
            params = ref.h_s(z_hat)
            means = params.chunk(2, 1)[1] if name == "mbt2018-mean" else None
            y_hat_ref = ref.gaussian_conditional.quantize(y_ref, "dequantize", means)
            _, our_means = ours.predict_parameters(
                ours.entropy_bottleneck.quantize(ours.h_a(ours.hyper_input(y_ours)), noise=False)
            )
            if name in AUTOREGRESSIVE:  # their synthesis and context see round(y), not around means
                our_means = None
            y_hat_ours = ours.gaussian_conditional.quantize(y_ours, False, our_means)
        result["y_hat"] = relative(y_hat_ours, y_hat_ref)
        result["x_hat"] = relative(ours_out.x_hat, theirs_out["x_hat"])
        for key, value in theirs_out["likelihoods"].items():
            result[f"likelihoods_{key}"] = relative(ours_out.likelihoods[key], value)
        strings = ref.compress(image)
        theirs_bytes = sum(len(s[0]) for s in strings["strings"])
        decoded_ref = ref.decompress(strings["strings"], strings["shape"])["x_hat"]
        # nccli's own bitstream: the exact integer hyper-synthesis on both sides.
        chunks, shape = ours.compress(image)
        result["bytes_ratio"] = sum(len(c) for c in chunks) / theirs_bytes
        if name in AUTOREGRESSIVE:
            # No float path to mirror CompressAI's coding: nccli decodes its own exact stream,
            # whose means differ from the float ones in their last bits: a few latents round
            # the other way, so the two decodes are compared by their PSNR.
            result["decoded_psnr_gap"] = abs(
                psnr(ours.decompress(chunks, shape), image) - psnr(decoded_ref, image)
            )
            return result
        # With the float hyper-synthesis the coding is CompressAI's: the same image comes out.
        float_kwargs = {} if name == "bmshj2018-factorized" else {"exact": False}
        chunks, shape = ours.compress(image, **float_kwargs)
        result["float_bytes_ratio"] = sum(len(c) for c in chunks) / theirs_bytes
        result["decoded"] = relative(ours.decompress(chunks, shape, **float_kwargs), decoded_ref)
    return result


def main() -> None:
    pixels = np.load(sys.argv[1])
    image = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255
    report = {
        f"{name} q{quality}": compare(name, quality, image) for name in PAIRS for quality in (1, 6)
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
