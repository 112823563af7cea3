"""Rebuild the test/demo photographs in tests/fixtures/photos from Debian's wallpaper package.

    python scripts/data/fixtures.py [--cache ~/.cache/nccli-data]

Fetches plasma-workspace-wallpapers with `apt-get download`, unpacks it with `dpkg -x`, and
downsamples each chosen photograph with a Lanczos filter (which also washes out its old JPEG
artifacts) before cropping. Needs apt-get and dpkg (Debian/Ubuntu).
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from PIL import Image

PACKAGE = "plasma-workspace-wallpapers"
ROOT = Path(__file__).resolve().parents[2]
#: name -> (wallpaper file inside the package, downscaled size, crop box)
PHOTOS = {
    "cups.png": (
        "usr/share/wallpapers/ColorfulCups/contents/images/2560x1600.jpg",
        (640, 400),
        (64, 8, 576, 392),
    ),
}


def unpack(cache: Path) -> Path:
    """Download and unpack the package once; return the unpacked tree."""
    tree = cache / PACKAGE
    if tree.exists():
        return tree
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", PACKAGE], cwd=cache, check=True)
    deb = next(cache.glob(f"{PACKAGE}_*.deb"))
    subprocess.run(["dpkg", "-x", str(deb), str(tree)], check=True)
    return tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "nccli-data")
    args = parser.parse_args()
    tree = unpack(args.cache)
    for name, (source, size, box) in PHOTOS.items():
        with Image.open(tree / source) as im:
            photo = im.convert("RGB").resize(size, Image.LANCZOS).crop(box)
        target = ROOT / "tests" / "fixtures" / "photos" / name
        photo.save(target, optimize=True)
        print(f"{target.relative_to(ROOT)}: {photo.width}x{photo.height}")


if __name__ == "__main__":
    main()
