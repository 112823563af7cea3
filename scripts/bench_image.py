"""Speed of nccli's learned image models against CompressAI's, same weights, same image.

    make bench-image            # or, with CompressAI on the path (see the Makefile):
    python scripts/bench_image.py tests/fixtures/photos/cups.png --arch mbt2018-mean \
        [--device cuda]

Both models get the same random weights (published weights need a network); coding speed
depends on the architecture and the symbol statistics, which random weights roughly keep.
Prints encode and decode MPixel/s (median of --repeat runs after a warm-up), nccli's ratio to
CompressAI measured in the same run, the share of nccli's decode spent in entropy coding,
and the peak resident memory of the process. With --device cuda both models run on the GPU
(entropy coding stays on the CPU in both) and every timing waits for the GPU to finish.
"""

from __future__ import annotations

import argparse
import resource
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nccli.entropy import coder
from nccli.evaluation.bench import median_seconds
from nccli.media.image import read_image
from nccli.models.image import ARCHITECTURES
from nccli.zoo.compressai import load_into


def compressai_model(arch: str, quality: int) -> torch.nn.Module:
    warnings.filterwarnings("ignore")
    from compressai.zoo import image_models

    torch.manual_seed(quality)
    model = image_models[arch](quality=quality, pretrained=False).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "quantiles" not in name:
                parameter.add_(torch.randn_like(parameter) * 0.01)
    model.update(force=True)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("--arch", default="mbt2018-mean", choices=sorted(ARCHITECTURES))
    parser.add_argument("--quality", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    args = parser.parse_args()
    device = torch.device(args.device)

    pixels = read_image(args.image.read_bytes()).pixels[:, :, :3]
    x = torch.from_numpy(np.array(pixels)).permute(2, 0, 1)[None].float() / 255
    x = F.pad(x, (0, -x.shape[3] % 64, 0, -x.shape[2] % 64), mode="replicate").to(device)
    megapixels = x.shape[2] * x.shape[3] / 1e6

    theirs = compressai_model(args.arch, args.quality)
    ours = ARCHITECTURES[args.arch](theirs.g_a[0].out_channels, theirs.g_a[6].out_channels)
    load_into(ours.eval(), theirs.state_dict())
    theirs.to(device)
    ours.to(device)

    def timed(work: Callable[[], object]) -> float:
        return median_seconds(lambda: finished(work(), device), args.repeat)

    with torch.no_grad():
        strings = theirs.compress(x)
        chunks, shape = ours.compress(x)
        t_enc_theirs = timed(lambda: theirs.compress(x))
        t_dec_theirs = timed(lambda: theirs.decompress(strings["strings"], strings["shape"]))
        t_enc_ours = timed(lambda: ours.compress(x))
        t_dec_ours = timed(lambda: ours.decompress(chunks, shape))

    entropy = {"seconds": 0.0}
    original = coder.decode

    def timed_decode(*a, **k):
        start = time.perf_counter()
        try:
            return original(*a, **k)
        finally:
            entropy["seconds"] += time.perf_counter() - start

    coder.decode = timed_decode
    start = time.perf_counter()
    with torch.no_grad():
        finished(ours.decompress(chunks, shape), device)
    share = entropy["seconds"] / (time.perf_counter() - start)
    coder.decode = original

    ours_bytes = sum(len(c) for c in chunks)
    theirs_bytes = sum(len(s[0]) for s in strings["strings"])
    print(
        f"{args.arch} q{args.quality}, {x.shape[3]}x{x.shape[2]} (padded), "
        f"{device_name(device)}, median of {args.repeat}"
    )
    print(f"{'':12}{'encode MP/s':>12}{'decode MP/s':>12}{'bytes':>9}")
    print(
        f"{'compressai':12}{megapixels / t_enc_theirs:12.2f}{megapixels / t_dec_theirs:12.2f}"
        f"{theirs_bytes:9d}"
    )
    print(
        f"{'nccli':12}{megapixels / t_enc_ours:12.2f}{megapixels / t_dec_ours:12.2f}{ours_bytes:9d}"
    )
    print(
        f"nccli / compressai: encode {t_enc_theirs / t_enc_ours:.2f}x, "
        f"decode {t_dec_theirs / t_dec_ours:.2f}x"
    )
    print(f"entropy decoding share of nccli decode: {share:.1%}")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def finished(result: object, device: torch.device) -> object:
    """``result``, once the device has finished the work queued for it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return result


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU, {torch.get_num_threads()} threads"


if __name__ == "__main__":
    main()
