"""Seams of tiled learned coding: PSNR of a tiled against an untiled nc-photo encode.

    python scripts/bench_tiles.py PHOTO [--side 2048] [--tile 1024] [--quality 1 4 8]

Cuts a side x side centre crop out of PHOTO (first downsampled with Lanczos, by the largest
factor that keeps the short side at least ``side``: a full-size camera photo, such as the
originals that scripts/data/photos.py caches, carries real detail at 2048 x 2048), encodes
it at each quality in one tile and in tile x tile tiles, and prints both files' bpp and
PSNR-RGB and the tiled file's PSNR loss (issue 3's target: within 0.1 dB at 2048 and 1024).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from nccli import api
from nccli.codecs.image.learned import TILE_MULTIPLE
from nccli.metrics.image import psnr


def centre_crop(path: Path, side: int) -> np.ndarray:
    """A side x side RGB crop of the photo, downsampled first as far as the side allows."""
    photo = PILImage.open(path).convert("RGB")
    factor = min(photo.size) / side
    if factor < 1:
        raise SystemExit(f"{path} is {photo.size[0]}x{photo.size[1]}, smaller than {side}")
    size = (max(side, round(photo.size[0] / factor)), max(side, round(photo.size[1] / factor)))
    photo = photo.resize(size, PILImage.Resampling.LANCZOS)
    left, top = (size[0] - side) // 2, (size[1] - side) // 2
    return np.asarray(photo.crop((left, top, left + side, top + side)))


def coded(pixels: np.ndarray, quality: float, tile: int) -> tuple[float, float, float]:
    """(bpp, PSNR-RGB, seconds to encode and decode) of one nc-photo encoding."""
    start = time.perf_counter()
    data = api.encode(pixels, "nc-photo", quality=quality, tile=tile)
    decoded, _ = api.decode(data)
    seconds = time.perf_counter() - start
    return len(data) * 8 / (pixels.shape[0] * pixels.shape[1]), psnr(pixels, decoded), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo", type=Path)
    parser.add_argument("--side", type=int, default=2048)
    parser.add_argument("--tile", type=int, default=1024)
    parser.add_argument("--quality", type=float, nargs="+", default=[1.0, 4.0, 8.0])
    args = parser.parse_args()
    pixels = centre_crop(args.photo, args.side)
    whole = -(-args.side // TILE_MULTIPLE) * TILE_MULTIPLE
    for quality in args.quality:
        bpp, untiled, seconds = coded(pixels, quality, whole)
        tiled_bpp, tiled, tiled_seconds = coded(pixels, quality, args.tile)
        print(
            f"{args.photo.name} {args.side}^2 quality {quality:g}: one tile {bpp:.4f} bpp "
            f"{untiled:.3f} dB ({seconds:.0f} s); tiles of {args.tile} {tiled_bpp:.4f} bpp "
            f"{tiled:.3f} dB ({tiled_seconds:.0f} s); PSNR loss {untiled - tiled:+.3f} dB, "
            f"rate {100 * (tiled_bpp / bpp - 1):+.2f} %"
        )


if __name__ == "__main__":
    main()
