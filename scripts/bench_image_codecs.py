"""Encode/decode throughput of the image codecs, as ratios against JPEG measured in the same run.

    python scripts/bench_image_codecs.py IMAGE [--repeat 5] [--codec webp ...]

Each codec encodes and decodes the image once to warm up, then --repeat times; the median
is reported in MPixel/s together with its ratio to the JPEG anchor.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import nccli
from nccli.media.image import read_image

ANCHOR = "jpeg"


def median_seconds(work: Callable[[], object], repeat: int) -> float:
    work()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--codec", action="append", default=None)
    args = parser.parse_args()
    image = read_image(args.image.read_bytes())
    megapixels = image.width * image.height / 1e6
    codecs = [
        ANCHOR,
        *[c for c in args.codec or ["webp", "avif", "jpeg2000", "png"] if c != ANCHOR],
    ]
    results = {}
    for codec in codecs:
        data = nccli.encode(image, codec)
        encode = median_seconds(lambda codec=codec: nccli.encode(image, codec), args.repeat)
        decode = median_seconds(lambda data=data: nccli.decode(data), args.repeat)
        results[codec] = (
            megapixels / encode,
            megapixels / decode,
            len(data) * 8 / (megapixels * 1e6),
        )
    anchor_encode, anchor_decode, _ = results[ANCHOR]
    print(f"{args.image}: {image.width}x{image.height}, median of {args.repeat} runs")
    print(f"{'codec':10} {'bpp':>7} {'enc MP/s':>9} {'vs jpeg':>8} {'dec MP/s':>9} {'vs jpeg':>8}")
    for codec, (enc, dec, bpp) in results.items():
        print(
            f"{codec:10} {bpp:7.3f} {enc:9.2f} {enc / anchor_encode:8.2f} "
            f"{dec:9.2f} {dec / anchor_decode:8.2f}"
        )


if __name__ == "__main__":
    main()
