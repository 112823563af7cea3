"""Write the golden .ncc files of tests/fixtures/golden (run once per new format feature).

Golden files are never regenerated for an existing container version: every future nccli
must decode them. Each comes with the pixels its decode gave when it was made.

    python scripts/make_golden.py NAME...   # only the named ones; refuses to overwrite
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

import nccli
from nccli.media.image import Image, read_image, write_image

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "fixtures" / "golden"
PHOTO = ROOT / "tests" / "fixtures" / "photos" / "cups.png"


def crops() -> dict[str, Image]:
    photo = read_image(PHOTO.read_bytes())
    rgb = photo.pixels[100:148, 200:264]
    luma = rgb.astype(np.uint32) @ np.array([77, 150, 29])
    grey16 = luma.astype(np.uint16)[:, :, None]
    alpha = np.linspace(0, 255, rgb.shape[1]).astype(np.uint8)[None, :, None]
    rgba = np.concatenate([rgb, np.broadcast_to(alpha, (*rgb.shape[:2], 1))], axis=2)
    return {
        "rgb8": Image(np.ascontiguousarray(rgb), photo.icc_profile),
        "grey16": Image(grey16),
        "grey8": Image((luma >> 8).astype(np.uint8)[:, :, None]),
        "rgba8": Image(np.ascontiguousarray(rgba)),
    }


CASES = {
    "image-v1-png-rgb8": ("png", "rgb8", {}),
    "image-v1-png-grey16": ("png", "grey16", {}),
    "image-v1-webp-rgba8": ("webp", "rgba8", {"quality": 70}),
    "image-v1-jpeg-rgb8": ("jpeg", "rgb8", {"quality": 60}),
    "image-v1-avif-rgb8": ("avif", "rgb8", {"quality": 50}),
    "image-v1-jpeg2000-rgb8": ("jpeg2000", "rgb8", {"quality": 35}),
    "image-v1-nc-overfit-v1-rgb8": ("nc-overfit", "rgb8", {"quality": 6, "effort": "200"}),
    "image-v1-nc-overfit-v2-rgb8": ("nc-overfit", "rgb8", {"quality": 6, "effort": "200"}),
    "image-v1-nc-overfit-v3-rgb8": ("nc-overfit", "rgb8", {"quality": 6, "effort": "200"}),
    "image-v1-nc-overfit-v4-rgb8": ("nc-overfit", "rgb8", {"quality": 6, "effort": "200"}),
    "image-v1-nc-overfit-v5-grey8": ("nc-overfit", "grey8", {"quality": 6, "effort": "200"}),
}


def main(names: list[str]) -> None:
    images = crops()
    manifest_path = GOLDEN / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    for name in names or list(CASES):
        target = GOLDEN / f"{name}.ncc"
        if target.exists():
            print(f"{target.name}: exists, left alone")
            continue
        codec, image_name, params = CASES[name]
        data = nccli.encode(images[image_name], codec, metadata={"golden": name}, **params)
        decoded = nccli.decode_media(data).media
        target.write_bytes(data)
        (GOLDEN / f"{name}.expected.png").write_bytes(write_image(decoded, ".png"))
        manifest[name] = {"codec": codec, "media": decoded.descriptor(), "params": params}
        print(f"{target.name}: {len(data)} bytes")
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
