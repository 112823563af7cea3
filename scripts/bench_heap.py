"""nc-photo on the CPU under glibc's default allocation policy and inside reused_heap().

    python scripts/bench_heap.py data/photos/validation/*.png [--quality 4] [--repeat 5]

For each image, times (torch on --threads threads, median of --repeat runs after a warm-up)
what the nc-photo codec runs per tile: the analysis and entropy coding (encode), entropy
decoding and the synthesis (decode), and one latent refinement step (--effort max runs 300),
first under glibc's default policy, then inside reused_heap() as the codec runs them, and
prints each ratio (below 1: reusing the heap is faster). The two are alternated image by
image, so both see the same machine.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

import numpy as np
import torch

from nccli.evaluation.bench import median_seconds
from nccli.media.image import convert_mode, read_image
from nccli.models.heap import reused_heap
from nccli.models.image.refine import refine_latents
from nccli.models.image.variable_rate import lambda_at
from nccli.zoo import embedded

#: Refinement steps timed per run (a run's first steps cost the same as its last ones).
REFINE_STEPS = 3


def timings(path: Path, quality: float, repeat: int, heap: bool) -> dict[str, float]:
    """Median seconds of encode, decode and one refinement step of one image."""
    model, _ = embedded.load("nc-photo")
    image = convert_mode(read_image(path.read_bytes()), "RGB")
    x = torch.from_numpy(np.array(image.pixels)).permute(2, 0, 1)[None].float() / 255
    x = torch.nn.functional.pad(x, (0, -x.shape[3] % 64, 0, -x.shape[2] % 64), mode="replicate")
    level = torch.tensor([quality - 1])
    gains, lam = model.gains(level), float(lambda_at(level))
    chunks, shape = model.compress(x, gains=gains)
    y, z = model.analyse(x, gains)
    with reused_heap() if heap else contextlib.nullcontext():
        return {
            "encode": median_seconds(lambda: model.compress(x, gains=gains), repeat),
            "decode": median_seconds(lambda: model.decompress(chunks, shape, gains=gains), repeat),
            "refinement step": median_seconds(
                lambda: refine_latents(model, x, y, z, gains, lam, REFINE_STEPS), repeat
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
