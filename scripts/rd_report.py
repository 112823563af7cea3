"""Rate-distortion report of the embedded model (nc-photo) against Pillow's codecs.

    python scripts/rd_report.py [--photos data/photos/validation] [--out docs/results] [-j 2]
        [--no-cache]

Encodes every validation photo with nc-photo (at its default effort, and at --effort fast as
the series "nc-photo fast": the analysis network's latents unrefined) and with JPEG, WebP,
AVIF and JPEG 2000 across their sweeps, in one run, measuring real .ncc file sizes (nccli's
evaluation runner), and writes OUT/image-rd.json (every row, means per setting, BD-rates),
OUT/image-rd.png (PSNR) and OUT/image-rd-ms-ssim.png, and OUT/README.md with the BD-rate
tables (PSNR-RGB, MS-SSIM and PSNR-Y) of nc-photo at both efforts against each anchor and, at
the default effort, against WebP on each photo alone, whether it beats WebP at every rate
point, and the rate cost of its exact entropy-parameter path against the float one.

Every result is kept in `nccli eval`'s result cache ($NCCLI_HOME/cache/eval, keyed by photo,
codec version, weights and request), shared with scripts/rd_overfit.py: a rerun after new
nc-photo weights measures only nc-photo again; --no-cache measures everything anew.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from nccli.evaluation.bd import BDEntry, bd_cells, bd_rates, per_input_bd_rates
from nccli.evaluation.cache import ResultCache, default_root
from nccli.evaluation.gates import Summary, summarize
from nccli.evaluation.plot import plot_rd
from nccli.evaluation.report import cell
from nccli.evaluation.runner import Row, run_all
from nccli.evaluation.sweep import codec_tasks
from nccli.zoo import embedded

ROOT = Path(__file__).resolve().parents[1]
CODEC = "nc-photo"
ANCHORS = ("webp", "jpeg", "avif", "jpeg2000")
#: The label of nc-photo's rows at --effort fast, a series of its own beside the default's.
FAST = f"{CODEC} fast"
METRICS = {"psnr": "PSNR-RGB", "ms_ssim": "MS-SSIM", "psnr_y": "PSNR-Y"}


def curve(summaries: list[Summary], codec: str) -> tuple[np.ndarray, np.ndarray]:
    """(bpp, PSNR) points of one codec, sorted by rate."""
    points = sorted((s.means["bpp"], s.means["psnr"]) for s in summaries if s.codec == codec)
    return np.array([p[0] for p in points]), np.array([p[1] for p in points])


def beats_at_every_point(summaries: list[Summary], anchor: str) -> list[dict]:
    """For each nc-photo point inside the anchor's rate range: the anchor's PSNR at that rate
    (linear in log-rate between its points) and whether nc-photo is higher."""
    rates, psnrs = curve(summaries, CODEC)
    anchor_rates, anchor_psnrs = curve(summaries, anchor)
    rows = []
    for rate, psnr in zip(rates.tolist(), psnrs.tolist(), strict=True):
        if not anchor_rates[0] <= rate <= anchor_rates[-1]:
            rows.append({"bpp": rate, "psnr": psnr, "anchor_psnr": None, "better": None})
            continue
        other = float(np.interp(np.log(rate), np.log(anchor_rates), anchor_psnrs))
        rows.append({"bpp": rate, "psnr": psnr, "anchor_psnr": other, "better": bool(psnr > other)})
    return rows


def exact_path_cost(photos: list[Path]) -> list[dict]:
    """Per level: nc-photo's payload bytes on the exact entropy-parameter path against the
    float path (which decodes reliably only where the floats agree), over all photos."""
    model, _ = embedded.load(CODEC)
    totals = []
    for level in range(model.levels):
        gains = model.gains(torch.tensor([float(level)]))
        sizes = {True: 0, False: 0}
        for photo in photos:
            pixels = np.asarray(Image.open(photo).convert("RGB"))
            x = torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None].float() / 255
            x = F.pad(x, (0, -x.shape[3] % 64, 0, -x.shape[2] % 64), mode="replicate")
            for exact in sizes:
                chunks, _ = model.compress(x, exact=exact, gains=gains)
                sizes[exact] += sum(len(chunk) for chunk in chunks)
        totals.append({"level": level, "exact": sizes[True], "float": sizes[False]})
    return totals


def bd_table(first: str, rows: dict[str, list[BDEntry]], codec: str) -> list[str]:
    """A markdown table of one codec's BD-rates per metric, a row per key of ``rows``."""
    lines = [f"| {first} | " + " | ".join(METRICS.values()) + " |"]
    lines.append("|---|" + "---:|" * len(METRICS))
    for key, entries in rows.items():
        lines.append(f"| {key} | " + " | ".join(bd_cells(entries, codec, METRICS)) + " |")
    return lines


def markdown(
    rows: list[Row],
    summaries: list[Summary],
    bd: dict[str, list[BDEntry]],
    photo_bd: dict[str, list[BDEntry]],
    points: list[dict],
    exact: list[dict],
) -> str:
    _, info = embedded.read(embedded.path_of(CODEC))
    lines = [
        "# Image rate-distortion results",
        "",
        f"Made by `python scripts/rd_report.py` on {time.strftime('%Y-%m-%d')}: the validation",
        "photos of `scripts/data/photos.py` (8 photographs, 768x512), real file sizes.",
        f"nc-photo weights after {info.get('steps', '?')} training steps (configs/nc-photo.toml);",
        f"{sum(row.cached for row in rows)} of {len(rows)} results from `nccli eval`'s cache.",
        "",
        "## BD-rate of nc-photo at its default effort (negative: fewer bits at equal quality)",
        "",
        *bd_table("anchor", bd, CODEC),
        "",
        "## BD-rate of nc-photo at --effort fast (no refinement)",
        "",
        *bd_table("anchor", bd, FAST),
        "",
        "## BD-rate of nc-photo against WebP on each photo",
        "",
        *bd_table("photo", photo_bd, CODEC),
    ]
    lines += ["", "## nc-photo against WebP at each of its rate points (PSNR-RGB)", ""]
    lines += ["| bpp | nc-photo (dB) | WebP at that rate (dB) | better |", "|---:|---:|---:|---|"]
    for p in points:
        other = "outside WebP's range" if p["anchor_psnr"] is None else f"{p['anchor_psnr']:.2f}"
        better = "-" if p["better"] is None else ("yes" if p["better"] else "no")
        lines.append(f"| {p['bpp']:.3f} | {p['psnr']:.2f} | {other} | {better} |")
    lines += ["", "## Rate cost of the exact entropy-parameter path (bytes, all photos)", ""]
    lines += ["| level | exact path | float path | cost |", "|---:|---:|---:|---:|"]
    for row in exact:
        cost = row["exact"] / row["float"] - 1
        lines.append(f"| {row['level']} | {row['exact']} | {row['float']} | {cost:+.3%} |")
    lines += ["", "## Means per setting", "", "| setting | bpp | PSNR (dB) | MS-SSIM |"]
    lines.append("|---|---:|---:|---:|")
    for s in summaries:
        m = s.means
        cells = [cell(m["bpp"], 4), cell(m["psnr"], 2), cell(m["ms_ssim"], 5)]
        lines.append(f"| {s.setting} | " + " | ".join(cells) + " |")
    lines += ["", "![RD curves, PSNR](image-rd.png)", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=ROOT / "data" / "photos" / "validation")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    parser.add_argument("-j", "--jobs", type=int, default=1)
    parser.add_argument(
        "--no-cache", action="store_true", help="measure every result anew, not from the cache"
    )
    args = parser.parse_args()
    photos = sorted(args.photos.glob("*.png"))
    if not photos:
        raise SystemExit(f"no PNG photos in {args.photos}: run scripts/data/photos.py first")
    tasks = [
        *codec_tasks(photos, [CODEC], {}, sweep=True),
        *codec_tasks(photos, [CODEC], {"effort": "fast"}, sweep=True),
        *codec_tasks(photos, list(ANCHORS), {}, sweep=True),
    ]
    cache = None if args.no_cache else ResultCache(default_root())
    rows = run_all(tasks, args.jobs, cache, lambda row: print(row.setting, row.input, row.bpp))
    for row in rows:
        if row.codec == CODEC and row.request.get("effort") == "fast":
            row.codec = FAST
    failed = [row for row in rows if row.error]
    if failed:
        raise SystemExit(f"{len(failed)} encodings failed, first: {failed[0].error}")
    summaries = summarize(rows)
    bd = {anchor: bd_rates(summaries, anchor) for anchor in ANCHORS}
    photo_bd = per_input_bd_rates(rows, [CODEC], "webp")
    points = beats_at_every_point(summaries, "webp")
    exact = exact_path_cost(photos)
    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "photos": [p.name for p in photos],
        "results": [row.to_dict() for row in rows],
        "summary": [asdict(s) for s in summaries],
        "bd_rates": {anchor: [asdict(e) for e in entries] for anchor, entries in bd.items()},
        "webp_bd_rates_per_photo": {
            photo: [asdict(e) for e in entries] for photo, entries in photo_bd.items()
        },
        "against_webp": points,
        "exact_path": exact,
    }
    (args.out / "image-rd.json").write_text(json.dumps(report, indent=1) + "\n")
    plots = plot_rd(summaries)
    (args.out / "image-rd.png").write_bytes(plots["rd-psnr.png"])
    (args.out / "image-rd-ms-ssim.png").write_bytes(plots["rd-ms_ssim.png"])
    (args.out / "README.md").write_text(markdown(rows, summaries, bd, photo_bd, points, exact))
    print((args.out / "README.md").read_text())


if __name__ == "__main__":
    main()
