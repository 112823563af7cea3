"""nc-overfit: decode time on one CPU core, and the rate cost of the exact entropy path.

    python scripts/bench_overfit.py data/photos/validation/*.png --effort 100

Encodes each image once (the effort only changes how good the fit is), then times decoding
(median of --repeat runs after a warm-up, torch on one thread) split into its parts, prints
the peak resident memory, and compares the latents' real payload with the float model's
estimate of their bits (the cost of the fixed-point path and the table, in %).
"""

from __future__ import annotations

import argparse
import resource
from pathlib import Path

import torch

from nccli import api
from nccli.codecs.image.overfit import read_model
from nccli.container import loads
from nccli.evaluation.bench import median_seconds
from nccli.media.image import read_image
from nccli.models.image import overfit, overfit_coding


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
    pixels = image.width * image.height
    print(
        f"{path.name} {image.width}x{image.height}: {len(data) * 8 / pixels:.4f} bpp "
        f"(networks {len(chunks[0])} B, latents {len(chunks[1])} B); "
        f"decode {whole * 1000:.0f} ms on 1 thread (latents {entropy * 1000:.0f} ms, "
        f"synthesis {synthesis * 1000:.0f} ms); exact path + table vs float estimate "
        f"{100 * (len(chunks[1]) * 8 / estimate - 1):+.2f} %"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--effort", default="100")
    parser.add_argument("--quality", type=float, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for path in args.images:
        measure(path, args.effort, args.quality, args.repeat)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory {peak:.0f} MiB")


if __name__ == "__main__":
    main()
