"""Rebuild the test/demo media in tests/fixtures from Debian packages.

    python scripts/data/fixtures.py [--cache ~/.cache/nccli-data]

Photographs: from plasma-workspace-wallpapers, each downsampled with a Lanczos filter (which
also washes out its old JPEG artifacts) before cropping. Speech: a LibriVox recording that
pocketsphinx-testdata ships (16 kHz mono), stored losslessly as FLAC. Packages are fetched
with `apt-get download` and unpacked with `dpkg -x`: needs apt-get and dpkg (Debian/Ubuntu).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import soundfile
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

SPEECH_PACKAGE, SPEECH_VERSION = "pocketsphinx-testdata", "0.8+5prealpha+1-15"
#: name -> recording inside the package
SPEECH = {
    "speech.flac": (
        "usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav"
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
    tree = unpack(SPEECH_PACKAGE, SPEECH_VERSION, args.cache)
    for name, source in SPEECH.items():
        samples, rate = soundfile.read(tree / source, dtype="int16")
        target = ROOT / "tests" / "fixtures" / "audio" / name
        target.parent.mkdir(exist_ok=True)
        soundfile.write(target, samples, rate, subtype="PCM_16")
        print(f"{target.relative_to(ROOT)}: {len(samples) / rate:.2f} s at {rate} Hz")


if __name__ == "__main__":
    main()
