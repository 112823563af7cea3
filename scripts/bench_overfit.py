"""nc-overfit: decode time on one CPU core, the rate cost of the exact entropy path, and the
time of a fitting step.

    python scripts/bench_overfit.py data/photos/validation/*.png --effort 100 [--fitting 10]

Encodes each image once (the effort only changes how good the fit is), then times decoding
(median of --repeat runs after a warm-up, torch on one thread) split into its parts, and
decoding the image as a WebP (default quality; libwebp on one thread) in the same run, an
anchor for readings taken on days when the machine runs faster or slower (this one's speed
drifted by up to 20 % between days). Prints the peak resident memory, and compares the
latents' real payload with the float model's estimate of their bits (the cost of the
fixed-point path and the table, in %).

With --fitting N it first times N fitting steps on each image (torch on two threads, after
three warm-up steps) under glibc's default allocation policy and inside reused_heap() (as the
encoder runs them), and prints the ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import time
from pathlib import Path

import numpy as np
import torch

from nccli import api
from nccli.codecs.image.overfit import quality_lambda, quality_latent_step, read_model
from nccli.container import loads
from nccli.evaluation.bench import median_seconds
from nccli.media.image import Image, convert_mode, read_image
from nccli.models.heap import reused_heap
from nccli.models.image import overfit, overfit_coding

#: Fitting steps run before timing (first-call costs).
WARM_UP_STEPS = 3


def step_seconds(image: Image, quality: float, steps: int, heap: bool) -> float:
    """Mean seconds of a fitting step on a fresh model, inside reused_heap() or not."""
    torch.set_num_threads(2)
    pixels = torch.from_numpy(np.array(convert_mode(image, "RGB").pixels))
    pixels = pixels.permute(2, 0, 1).float() / 255
    model = overfit.OverfitModel(
        image.height, image.width, latent_step=quality_latent_step(quality)
    )
    lam = quality_lambda(quality)
    with reused_heap() if heap else contextlib.nullcontext():
        overfit.Fitting(model, pixels, lam, WARM_UP_STEPS).finish()
        start = time.perf_counter()
        overfit.Fitting(model, pixels, lam, steps).finish()
    return (time.perf_counter() - start) / steps


def measure_fitting(path: Path, quality: float, steps: int) -> None:
    """Print a fitting step's time under both allocation policies and their ratio."""
    image = read_image(path.read_bytes())
    plain = step_seconds(image, quality, steps, heap=False)
    reused = step_seconds(image, quality, steps, heap=True)
    print(
        f"{path.name}: fitting step {plain:.3f} s with glibc's default allocation, "
        f"{reused:.3f} s in reused_heap() (ratio {reused / plain:.2f})"
    )


def measure(path: Path, effort: str, quality: float, repeat: int) -> None:
    """Encode one image, then print its decode times and exact-path rate cost."""
    image = read_image(path.read_bytes())
    torch.set_num_threads(2)
    data = api.encode(image, "nc-overfit", quality=quality, effort=effort, strip=True)
    torch.set_num_threads(1)
    parsed = loads(data)
    chunks = [chunk.payload for chunk in parsed.chunks if chunk.type == b"DATA"]
    model, latents = read_model(parsed.header, chunks)
    sizes = [tuple(latent.shape[-2:]) for latent in latents]
    with torch.no_grad():  # the grids the file codes (the others are one flag bit each)
        estimate = 8 + float(
            sum(
                overfit.grid_bits(grid, coarser, model.arm)
                for grid, coarser in overfit.with_coarser(latents)
                if grid.any()
            )
        )
    whole = median_seconds(lambda: api.decode(data), repeat)
    entropy = median_seconds(
        lambda: overfit_coding.decode_latents(chunks[1], sizes, model.arm), repeat
    )
    synthesis = median_seconds(lambda: overfit.render(model, latents), repeat)
    anchor = api.encode(image, "webp", strip=True)
    anchor_seconds = median_seconds(lambda: api.decode(anchor), repeat)
    pixels = image.width * image.height
    print(
        f"{path.name} {image.width}x{image.height}: {len(data) * 8 / pixels:.4f} bpp "
        f"(networks {len(chunks[0])} B, latents {len(chunks[1])} B); "
        f"decode {whole * 1000:.0f} ms on 1 thread (latents {entropy * 1000:.0f} ms, "
        f"synthesis {synthesis * 1000:.0f} ms), {whole / anchor_seconds:.1f}x WebP's "
        f"{anchor_seconds * 1000:.1f} ms; exact path + table vs float estimate "
        f"{100 * (len(chunks[1]) * 8 / estimate - 1):+.2f} %"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--effort", default="100")
    parser.add_argument("--quality", type=float, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--fitting", type=int, default=0, metavar="N", help="time N steps")
    args = parser.parse_args()
    for path in args.images if args.fitting else []:
        measure_fitting(path, args.quality, args.fitting)
    for path in args.images:
        measure(path, args.effort, args.quality, args.repeat)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory {peak:.0f} MiB")


if __name__ == "__main__":
    main()
