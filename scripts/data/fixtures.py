"""Rebuild the test/demo photographs in tests/fixtures/photos from Debian's wallpaper package.

    python scripts/data/fixtures.py [--cache ~/.cache/nccli-data]

Fetches plasma-workspace-wallpapers with `apt-get download`, unpacks it with `dpkg -x`, and
downsamples each chosen photograph with a Lanczos filter (which also washes out its old JPEG
artifacts) before cropping. Needs apt-get and dpkg (Debian/Ubuntu).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from debian import DEFAULT_CACHE, unpack
from PIL import Image

PACKAGE, VERSION = "plasma-workspace-wallpapers", "4:5.27.5-2"
ROOT = Path(__file__).resolve().parents[2]
#: name -> (wallpaper file inside the package, downscaled size, crop box)
PHOTOS = {
    "cups.png": (
        "usr/share/wallpapers/ColorfulCups/contents/images/2560x1600.jpg",
        (640, 400),
        (64, 8, 576, 392),
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args()
    tree = unpack(PACKAGE, VERSION, args.cache)
    for name, (source, size, box) in PHOTOS.items():
        with Image.open(tree / source) as im:
            photo = im.convert("RGB").resize(size, Image.LANCZOS).crop(box)
        target = ROOT / "tests" / "fixtures" / "photos" / name
        photo.save(target, optimize=True)
        print(f"{target.relative_to(ROOT)}: {photo.width}x{photo.height}")


if __name__ == "__main__":
    main()
