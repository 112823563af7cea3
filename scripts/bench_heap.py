"""nc-photo on the CPU under glibc's default allocation policy and inside reused_heap().

    python scripts/bench_heap.py data/photos/validation/*.png [--quality 4] [--repeat 5]

For each image, times (torch on --threads threads, median of --repeat runs after a warm-up)
the analysis and entropy coding of a tile (encode), its entropy decoding and synthesis
(decode), and REFINE_STEPS latent refinement steps (--effort max runs 300), each run under
glibc's default policy and each inside a reused_heap() block of its own, and prints each
ratio (below 1: reusing the heap is faster). The codec enters a block around refinement's
steps only; the encode and decode columns show what a block per call would give. The
policies are alternated image by image, so both see the same machine.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable
from pathlib import Path
from unittest.mock import patch

import numpy as np
import torch

from nccli.evaluation.bench import median_seconds
from nccli.media.image import convert_mode, read_image
from nccli.models import heap as heap_module
from nccli.models.image.refine import refine_latents
from nccli.models.image.variable_rate import lambda_at
from nccli.zoo import embedded

#: Refinement steps in a timed run; a step's time is the run's over this.
REFINE_STEPS = 10


def timings(path: Path, quality: float, repeat: int, heap: bool) -> dict[str, float]:
    """Median seconds of encode, decode and a refinement step of one image."""
    model, _ = embedded.load("nc-photo")
    image = convert_mode(read_image(path.read_bytes()), "RGB")
    x = torch.from_numpy(np.array(image.pixels)).permute(2, 0, 1)[None].float() / 255
    stride = model.downsampling
    pad = (0, -x.shape[3] % stride, 0, -x.shape[2] % stride)
    x = torch.nn.functional.pad(x, pad, mode="replicate")
    level = torch.tensor([quality - 1])
    gains, lam = model.gains(level), float(lambda_at(level))
    chunks, shape = model.compress(x, gains=gains)
    y, z = model.analyse(x, gains)

    def seconds(work: Callable[[], object]) -> float:
        def run() -> None:
            with heap_module.reused_heap() if heap else contextlib.nullcontext():
                work()

        return median_seconds(run, repeat)

    # The default policy everywhere, refine_latents' own block included.
    with (
        contextlib.nullcontext()
        if heap
        else patch.object(heap_module, "reused_heap", contextlib.nullcontext)
    ):
        return {
            "encode": seconds(lambda: model.compress(x, gains=gains)),
            "decode": seconds(lambda: model.decompress(chunks, shape, gains=gains)),
            "refinement step": seconds(
                lambda: refine_latents(model, x, y, z, gains, lam, REFINE_STEPS)
            )
            / REFINE_STEPS,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", type=Path, nargs="+")
    parser.add_argument("--quality", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for path in args.images:
        plain = timings(path, args.quality, args.repeat, heap=False)
        reused = timings(path, args.quality, args.repeat, heap=True)
        parts = ", ".join(
            f"{name} {plain[name]:.3f} -> {reused[name]:.3f} s ({reused[name] / plain[name]:.2f})"
            for name in plain
        )
        print(f"{path.name}: {parts}", flush=True)


if __name__ == "__main__":
    main()
