"""Build the photograph training and validation sets from Debian's wallpaper packages.

    python scripts/data/photos.py [--out data/photos] [--cache ~/.cache/nccli-data] [--seed 0]

Selection: the PHOTOS list below, chosen by looking at every wallpaper of at least 1000
pixels on its short side in these packages: photographs of real scenes are kept (most carry a
camera's EXIF tags); renders, illustrations, paintings, gradients, logos and textures are left
out, and an image shipped at several sizes is taken once, at its largest.

Preparation (all random draws from --seed): every photo is converted to sRGB through its
ICC profile, if it has one, and written without a profile (it would only add bytes to every
encoding); then it is downsampled by a random factor in
[2, 4] with Pillow's Lanczos filter (antialiased), which washes out the JPEG artifacts of the
originals. The split is by whole photograph: --validation photos (ColorfulCups always among
them, as the demo and tests use it) are centre-cropped to 768x512 (512x768 when portrait,
the factor lowered if needed to reach that size); every other photo gives random crops of
at most CROP x CROP pixels, one per CROP*CROP pixels of area, at most MAX_CROPS. Training
cuts its random patches from these crops. Output: OUT/train/*.png, OUT/validation/*.png
and OUT/manifest.json (sources, factors and crop boxes).
"""

from __future__ import annotations

import argparse
import io
import json
import random
from pathlib import Path

from debian import DEFAULT_CACHE, unpack
from PIL import Image, ImageCms, ImageOps

ROOT = Path(__file__).resolve().parents[2]
#: Debian bookworm package versions the selection was made from.
PACKAGES = {
    "plasma-workspace-wallpapers": "4:5.27.5-2",
    "lxqt-themes": "1.2.0-1",
    "mate-backgrounds": "1.26.0-1",
    "lomiri-wallpapers-16.04": "20.04.0-2",
    "lomiri-wallpapers-20.04": "20.04.0-2",
}
_PLASMA = "usr/share/wallpapers/{}/contents/images/2560x1600.jpg"
_LXQT = "usr/share/lxqt/wallpapers/"
_MATE = "usr/share/backgrounds/mate/nature/"
_LOMIRI = "usr/share/backgrounds/"
#: (package, file inside it)
PHOTOS = (
    *(
        ("plasma-workspace-wallpapers", _PLASMA.format(name))
        for name in (
            "BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow",
            "FallenLeaf", "Grey", "Kite", "OneStandsOut", "Path", "summer_1am",
        )
    ),
    ("plasma-workspace-wallpapers", "usr/share/wallpapers/Volna/contents/images/5120x2880.jpg"),
    *(
        ("lxqt-themes", _LXQT + name)
        for name in (
            "Butterfly-Kenneth-Wimer.jpg", "Valendas.png", "after-the-rain.jpg",
            "appleflower.png", "beam.png", "butterfly.png", "cloud.png", "drop.png",
            "flowers.png", "fog.jpg", "this-is-not-windows.jpg",
        )
    ),
    *(
        ("mate-backgrounds", _MATE + name)
        for name in (
            "Aqua.jpg", "Blinds.jpg", "Dune.jpg", "FreshFlower.jpg", "Garden.jpg",
            "GreenMeadow.jpg", "LadyBird.jpg", "RainDrops.jpg", "Storm.jpg", "TwoWings.jpg",
            "Wood.jpg", "YellowFlower.jpg",
        )
    ),
    *(
        ("lomiri-wallpapers-16.04", _LOMIRI + name)
        for name in (
            "Bridge_by_Sander_Klootwijk.jpg", "Dragonfly_by_Bolly.jpg",
            "Picture_0B_by_freespace.jpg", "Picture_1A_by_freespace.jpg",
            "Wine_by_Jakkub_Mede.jpg", "aitzgorri_by_Aitzol_Berasategi.jpg",
            "free_by_Peter_Nerlich.jpg", "friends_by_Aitzol_Berasategi.jpg",
            "greentock_by_Peter_Nerlich.jpg", "life_by_Aitzol_Berasategi.jpg",
            "picosdeeuropa_by_Aitzol_Berasategi.jpg", "seeding_by_Clements_Engelhardt.jpg",
            "sunset_by_Aitzol_Berasategi.jpg",
        )
    ),
    ("lomiri-wallpapers-20.04", _LOMIRI + "Kleiber_by_Lukas_Baubkus.jpg"),
)  # fmt: skip
ALWAYS_VALIDATION = "plasma-ColorfulCups"
VALIDATION_SIZE = (768, 512)
CROP = 768
MAX_CROPS = 4


def photo_name(package: str, path: str) -> str:
    """A short unique name: the package's first word and the wallpaper's own name."""
    parts = Path(path).parts
    stem = parts[3] if "contents" in parts else Path(path).stem
    return f"{package.split('-')[0]}-{stem}"


def to_srgb(photo: Image.Image) -> Image.Image:
    """The photo's pixels in sRGB, converted through its ICC profile where it has one."""
    profile = photo.info.get("icc_profile")
    if not profile:
        return photo
    source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
    srgb = ImageCms.createProfile("sRGB")
    return ImageCms.profileToProfile(photo, source, srgb, outputMode="RGB")


def downsample(photo: Image.Image, factor: float) -> Image.Image:
    size = (round(photo.width / factor), round(photo.height / factor))
    return photo.resize(size, Image.LANCZOS)


def validation_photo(photo: Image.Image, rng: random.Random) -> tuple[Image.Image, dict]:
    """Downsampled by a random factor (lowered to keep 768x512), centre-cropped to it."""
    width, height = VALIDATION_SIZE if photo.width >= photo.height else VALIDATION_SIZE[::-1]
    factor = min(rng.uniform(2, 4), photo.width / width, photo.height / height)
    small = downsample(photo, factor)
    left, top = (small.width - width) // 2, (small.height - height) // 2
    box = (left, top, left + width, top + height)
    return small.crop(box), {"factor": factor, "box": box}


def training_crops(photo: Image.Image, rng: random.Random) -> list[tuple[Image.Image, dict]]:
    """Random crops of a photo downsampled by a random factor in [2, 4]."""
    factor = rng.uniform(2, 4)
    small = downsample(photo, factor)
    count = min(MAX_CROPS, max(1, round(small.width * small.height / CROP**2)))
    crops = []
    for _ in range(count):
        width, height = min(CROP, small.width), min(CROP, small.height)
        left = rng.randrange(small.width - width + 1)
        top = rng.randrange(small.height - height + 1)
        box = (left, top, left + width, top + height)
        crops.append((small.crop(box), {"factor": factor, "box": box}))
    return crops


def build(out: Path, cache: Path, seed: int, validation: int) -> dict:
    trees = {package: unpack(package, version, cache) for package, version in PACKAGES.items()}
    rng = random.Random(seed)
    order = list(PHOTOS)
    rng.shuffle(order)
    names = [photo_name(*source) for source in order]
    others = [name for name in names if name != ALWAYS_VALIDATION]
    held_out = {ALWAYS_VALIDATION, *others[: validation - 1]}
    manifest: dict = {"seed": seed, "packages": PACKAGES, "train": {}, "validation": {}}
    for split in ("train", "validation"):
        (out / split).mkdir(parents=True, exist_ok=True)
    for (package, path), name in zip(order, names, strict=True):
        with Image.open(trees[package] / path) as source:
            photo = to_srgb(ImageOps.exif_transpose(source).convert("RGB"))
        entry = {"package": package, "file": path}
        if name in held_out:
            image, info = validation_photo(photo, rng)
            image.save(out / "validation" / f"{name}.png", icc_profile=None)
            manifest["validation"][name] = {**entry, **info}
        else:
            for index, (image, info) in enumerate(training_crops(photo, rng)):
                image.save(out / "train" / f"{name}-{index}.png", icc_profile=None)
                manifest["train"][f"{name}-{index}"] = {**entry, **info}
        print(f"{name}: {'validation' if name in held_out else 'train'}", flush=True)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "photos")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--validation", type=int, default=8, help="photos held out")
    args = parser.parse_args()
    if not 1 <= args.validation < len(PHOTOS):
        parser.error(f"--validation must lie in 1..{len(PHOTOS) - 1}")
    manifest = build(args.out, args.cache, args.seed, args.validation)
    print(f"{len(manifest['train'])} training crops, {len(manifest['validation'])} validation")


if __name__ == "__main__":
    main()
