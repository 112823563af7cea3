"""nc-photo at a higher effort (latent refinement) against its default effort, photo by photo.

    python scripts/rd_effort.py [--effort max] [--qualities 4] [--out OUT.json]

Encodes each validation photo with nc-photo at the given effort and qualities (real .ncc
file sizes, PSNR-RGB of the decoded image, encode seconds) and sets each point against the
curves that scripts/rd_report.py stored (docs/results/image-rd.json, which must be of the same
weights): the rate the default effort and WebP need for
the same PSNR, by linear interpolation in log-rate between their points. Each encode is saved
to OUT as it finishes and skipped when run again (OUT names the weights' digest; encodes of
other weights are refused), so a run too long for one sitting resumes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from nccli import api
from nccli.codecs.base import get_codec
from nccli.codecs.device import select, torch_device
from nccli.metrics.bdrate import bd_rate
from nccli.metrics.image import psnr

ROOT = Path(__file__).resolve().parents[1]
CODEC = "nc-photo"
ANCHORS = (CODEC, "webp")


def curves(report: dict) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """(codec, photo file name) -> (log bpp, PSNR) sorted by rate, from a stored report."""
    points: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for row in report["results"]:
        if row["codec"] in ANCHORS and not row["error"]:
            points.setdefault((row["codec"], Path(row["input"]).name), []).append(
                (row["bpp"], row["psnr"])
            )
    return {
        key: (np.log(rates), np.array(psnrs))
        for key, v in points.items()
        for rates, psnrs in [zip(*sorted(v), strict=True)]
    }


def rate_change(curve: tuple[np.ndarray, np.ndarray], bpp: float, quality: float) -> float | None:
    """bpp against the curve's rate at the same PSNR (-0.1: 10 % fewer bits); None outside
    the curve's PSNR range."""
    log_rates, psnrs = curve
    if not psnrs.min() <= quality <= psnrs.max() or np.any(np.diff(psnrs) <= 0):
        return None
    return float(bpp / np.exp(np.interp(quality, psnrs, log_rates)) - 1)


def encode(photo: Path, quality: float, effort: str) -> dict:
    pixels = np.array(Image.open(photo).convert("RGB"))
    start = time.perf_counter()
    data = api.encode(pixels, CODEC, quality=quality, effort=effort)
    seconds = time.perf_counter() - start
    decoded, _ = api.decode(data)
    return {
        "photo": photo.name,
        "quality": quality,
        "effort": effort,
        "bytes": len(data),
        "bpp": len(data) * 8 / (pixels.shape[0] * pixels.shape[1]),
        "psnr": psnr(pixels, np.asarray(decoded)),
        "encode_s": round(seconds, 1),
        "device": str(torch_device()),
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=ROOT / "data" / "photos" / "validation")
    parser.add_argument("--report", type=Path, default=ROOT / "docs" / "results" / "image-rd.json")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "results" / "nc-photo-effort.json"
    )
    parser.add_argument("--effort", default="max")
    parser.add_argument("--qualities", type=float, nargs="+", default=[4.0])
    parser.add_argument("--device", default="auto", help="as nccli's --device")
    args = parser.parse_args()
    select(args.device)
    device = str(torch_device())
    photos = sorted(args.photos.glob("*.png"))
    if not photos:
        raise SystemExit(f"no PNG photos in {args.photos}: run scripts/data/photos.py first")
    report = json.loads(args.report.read_text())
    weights = get_codec(CODEC).identity({})
    curve = curves(report)
    done = (
        json.loads(args.out.read_text())
        if args.out.exists()
        else {"weights": weights, "encodes": []}
    )
    if done["weights"] != weights:
        raise SystemExit(f"{args.out} holds encodes of other weights: move it away first")
    for quality in args.qualities:
        for photo in photos:
            key = (photo.name, quality, args.effort, device)
            if any(_key(e) == key for e in done["encodes"]):
                continue
            entry = encode(photo, quality, args.effort)
            for anchor in ANCHORS:
                entry[f"vs_{anchor}"] = rate_change(
                    curve[anchor, photo.name], entry["bpp"], entry["psnr"]
                )
            done["encodes"].append(entry)
            partial = args.out.with_suffix(".partial")
            partial.write_text(json.dumps(done, indent=1) + "\n")
            partial.replace(args.out)
            print(json.dumps(entry), flush=True)
    print_table(done["encodes"])
    print_bd_rates(done["encodes"], report["summary"], len(photos))


def _key(encode: dict) -> tuple:
    return encode["photo"], encode["quality"], encode["effort"], encode["device"]


def print_table(encodes: list[dict]) -> None:
    print("| photo | quality | effort | device | bpp | PSNR | encode s | vs default | vs WebP |")
    print("|---|---:|---|---|---:|---:|---:|---:|---:|")
    for e in encodes:
        cells = [_percent(e[f"vs_{a}"]) for a in ANCHORS]
        print(
            f"| {Path(e['photo']).stem} | {e['quality']:g} | {e['effort']} | {e['device']} "
            f"| {e['bpp']:.4f} "
            f"| {e['psnr']:.2f} | {e['encode_s']:.0f} | {cells[0]} | {cells[1]} |"
        )


def print_bd_rates(encodes: list[dict], summary: list[dict], photos: int) -> None:
    """BD-rates (PSNR-RGB) of each effort's and device's mean curve, over the qualities that
    every photo has, against each codec's mean curve in the stored report."""
    groups: dict[tuple[str, str], dict[float, list[dict]]] = {}
    for e in encodes:
        groups.setdefault((e["effort"], e["device"]), {}).setdefault(e["quality"], []).append(e)
    anchors: dict[str, list[tuple[float, float]]] = {}
    for s in summary:
        anchors.setdefault(s["codec"], []).append((s["means"]["bpp"], s["means"]["psnr"]))
    for (effort, device), by_quality in groups.items():
        points = [
            (np.mean([e["bpp"] for e in es]), np.mean([e["psnr"] for e in es]))
            for _, es in sorted(by_quality.items())
            if len(es) == photos
        ]
        if len(points) < 2:
            continue
        cells = []
        for codec, curve in anchors.items():
            result = bd_rate(*zip(*sorted(curve), strict=True), *zip(*points, strict=True))
            cells.append(f"{codec} {'-' if result is None else f'{result.value:+.1f} %'}")
        print(
            f"BD-rate of effort {effort} on {device} ({len(points)} qualities): " + ", ".join(cells)
        )


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1%}"


if __name__ == "__main__":
    main()
