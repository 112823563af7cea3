"""Rate-distortion and encode time of nc-overfit beside nc-photo and Pillow's codecs.

    python scripts/rd_overfit.py [--photos data/photos/validation] [--limit N]
        [--efforts fast default] [--qualities 1 3 5 7] [--out docs/results] [--stem NAME]
        [--encodes-only | --encoded-on DEVICE] [--no-cache]

Encodes the validation photos (the first --limit of them, sorted by name) with nc-overfit at
each effort and quality, timing every encode and decode on this machine's device (CUDA when
there is one, else the CPU; --device as for nccli), and runs the anchors, nc-photo, JPEG,
WebP, AVIF and JPEG 2000, over their sweeps on the same photos (nccli's evaluation runner).
All rates are real .ncc file sizes. Writes OUT/NAME.json (every row) and OUT/NAME.md (NAME:
overfit-rd): BD-rates (PSNR-RGB, MS-SSIM) of nc-overfit at each effort against every other
codec with the PSNR interval where both have points (the only one a BD-rate speaks of),
the same on each photo alone (PSNR-RGB: where one photo departs from the means), mean
bpp, PSNR and encode/decode seconds per setting, with the encode seconds over those of a
WebP encode of the same photo timed just before it (quality 75, the median of WEBP_RUNS), a
yardstick of the machine's speed, which drifts by tens of per cent from day to day.

The anchors' results are kept in `nccli eval`'s result cache ($NCCLI_HOME/cache/eval, keyed
by photo, codec version, weights and request), so that another report on the same photos
(another effort, a new encoder) measures none of them again; --no-cache measures them anew.

Every nc-overfit encode is written to OUT/NAME.encodes.json as soon as it is measured, and
reused by a later run with the same encoder (a digest of the code of the sources that
make the bitstream: their comments and docstrings may change), photo, effort, quality,
device and thread count: an interrupted run, or one stopped after --encodes-only (no
anchors, no report), resumes where it was. --encoded-on DEVICE reports the encodes stored
for another device (say cuda:0, from a run on a lent GPU machine; docs/device.md) and
encodes nothing: the anchors run here.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import json
import os
import statistics
import sys
import time
import tokenize
from dataclasses import asdict
from pathlib import Path

import torch

from nccli import api
from nccli.codecs.base import get_codec
from nccli.codecs.device import ENVIRONMENT, select, torch_device
from nccli.evaluation.bd import BDEntry, bd_cells, bd_rates, per_input_bd_rates
from nccli.evaluation.cache import ResultCache, default_root
from nccli.evaluation.gates import Summary, summarize
from nccli.evaluation.report import cell
from nccli.evaluation.runner import Row, run_all
from nccli.evaluation.sweep import codec_tasks
from nccli.media.image import read_image
from nccli.metrics.image import ms_ssim, psnr

ROOT = Path(__file__).resolve().parents[1]
CODEC = "nc-overfit"
OTHERS = ("nc-photo", "webp", "jpeg", "avif", "jpeg2000")
METRICS = {"psnr": "PSNR-RGB", "ms_ssim": "MS-SSIM"}
#: The sources whose code makes nc-overfit's bitstream: encodes made by other versions of
#: them are not reused.
ENCODER_SOURCES = ("nccli/codecs/image/overfit.py", "nccli/models", "nccli/entropy")


#: Tokens after which a lone string is a docstring (a statement of its own).
STATEMENT_START = {tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING}


def code_tokens(source: bytes) -> list[str]:
    """The tokens of a Python source that make its code: comments, docstrings (strings
    standing as statements), blank lines and the width of indentation left out."""
    tokens = tokenize.tokenize(io.BytesIO(source).readline)
    tokens = [t for t in tokens if t.type not in (tokenize.COMMENT, tokenize.NL)]
    docstrings = {
        i
        for i in range(1, len(tokens) - 1)
        if tokens[i].type == tokenize.STRING
        and tokens[i - 1].type in STATEMENT_START
        and tokens[i + 1].type == tokenize.NEWLINE
    }
    dropped = docstrings | {i + 1 for i in docstrings}  # with the line's end
    return [
        "INDENT" if token.type == tokenize.INDENT else token.string
        for i, token in enumerate(tokens)
        if i not in dropped
    ]


@functools.cache
def encoder_digest() -> str:
    """A digest of the code of ENCODER_SOURCES' Python files (read once per run): editing a
    comment or a docstring keeps it, so stored encodes stay in use."""
    digest = hashlib.sha256()
    for source in ENCODER_SOURCES:
        path = ROOT / source
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(file.relative_to(ROOT).as_posix().encode() + b"\0")
            digest.update("\0".join(code_tokens(file.read_bytes())).encode() + b"\0\0")
    return digest.hexdigest()[:16]


#: What an encode's entry holds beyond its setting and seconds.
MEASURES = ("bytes", "bpp", "psnr", "ms_ssim")
#: WebP encodes timed before each nc-overfit encode; their median is its time's yardstick.
WEBP_RUNS = 5


class EncodeCache:
    """nc-overfit's measured encodes in a JSON file, keyed by encoder, device, threads,
    photo, effort and quality; written after every new entry."""

    def __init__(self, path: Path, device: str, threads: int, encoding: bool = True) -> None:
        self.path, self.device, self.threads, self.encoding = path, device, threads, encoding
        self.prefix = f"{encoder_digest()} {device} {threads}"
        self.entries: dict[str, dict] = json.loads(path.read_text()) if path.exists() else {}

    @classmethod
    def stored(cls, path: Path, device: str) -> EncodeCache:
        """The encodes this encoder made on ``device`` (one thread count), read only."""
        digest = encoder_digest()
        entries = json.loads(path.read_text()) if path.exists() else {}
        threads = {key.split()[2] for key in entries if key.split()[:2] == [digest, device]}
        if len(threads) != 1:
            raise SystemExit(
                f"{path} holds encodes of this encoder ({digest}) on {device} with "
                f"{len(threads)} thread counts, not one: nothing to report"
            )
        return cls(path, device, int(threads.pop()), encoding=False)

    def measured(self, photo: Path, effort: str, quality: float) -> tuple[Row, dict]:
        """(row, the entry: MEASURES and seconds): from the file when it holds them, else
        measured and stored."""
        key = f"{self.prefix} {photo.name} {effort} {quality:g}"
        if key not in self.entries:
            if not self.encoding:
                raise SystemExit(
                    f"{self.path} holds no encode of {photo.name} at effort {effort}, "
                    f"quality {quality:g} on {self.device}"
                )
            self.entries[key] = measure(photo, effort, quality)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_suffix(".partial")  # replaced whole: Ctrl-C loses none
            partial.write_text(json.dumps(self.entries, indent=1) + "\n")
            partial.replace(self.path)
        entry = self.entries[key]
        row = Row(str(photo), f"{CODEC} {effort}", request={"quality": quality})
        for name in MEASURES:  # the row's codec names the effort: a curve per effort
            setattr(row, name, entry[name])
        return row, entry


def measure(photo: Path, effort: str, quality: float) -> dict[str, float]:
    """One nc-overfit encoding of a photo: MEASURES, its encode and decode seconds and
    the median seconds of WebP encodes of it (the machine's speed at that moment)."""
    image = read_image(photo.read_bytes())
    webp = []
    for _ in range(WEBP_RUNS):
        start = time.perf_counter()
        api.encode(image, "webp", quality=75, strip=True)
        webp.append(time.perf_counter() - start)
    start = time.perf_counter()
    data = api.encode(image, CODEC, quality=quality, effort=effort, strip=True)
    encoded = time.perf_counter()
    decoded, _ = api.decode(data)
    decoding = time.perf_counter() - encoded
    return {
        "bytes": len(data),
        "bpp": len(data) * 8 / (image.width * image.height),
        "psnr": psnr(image.pixels, decoded),
        "ms_ssim": ms_ssim(image.pixels, decoded),
        "encode_s": encoded - start,
        "decode_s": decoding,
        "webp_encode_s": statistics.median(webp),
    }


def timing(entries: list[dict]) -> list[float | None]:
    """A setting's mean encode and decode seconds, and its mean encode seconds over the
    WebP encode's (None unless every entry has one: those before 2026-12-07 have none)."""
    encode, decode = (statistics.mean(e[key] for e in entries) for key in ("encode_s", "decode_s"))
    over_webp = [e["encode_s"] / e["webp_encode_s"] for e in entries if "webp_encode_s" in e]
    return [encode, decode, statistics.mean(over_webp) if len(over_webp) == len(entries) else None]


def psnr_span(entries: list[BDEntry], codec: str) -> str:
    """The PSNR-RGB interval a codec's BD-rate was integrated over (where both curves have
    points), as a table cell."""
    (entry,) = [e for e in entries if e.codec == codec and e.metric == "psnr"]
    return "-" if entry.low is None or entry.high is None else f"{entry.low:.1f}-{entry.high:.1f}"


def markdown(
    summaries: list[Summary],
    efforts: list[str],
    bd: dict[str, list[BDEntry]],
    photo_bd: dict[str, dict[str, list[BDEntry]]],
    times: dict[str, list[float | None]],
    cache: EncodeCache,
    anchors: list[Row],
) -> str:
    command = " ".join(["python scripts/rd_overfit.py", *sys.argv[1:]])
    lines = [
        "# nc-overfit: rate-distortion and encode time",
        "",
        f"Made by `{command}` on {time.strftime('%Y-%m-%d')} (nc-overfit version",
        f"{get_codec('nc-overfit').version}, encoder {encoder_digest()},",
        f"{cache.device}, {cache.threads} threads):",
        f"{summaries[0].files} validation photos of",
        "`scripts/data/photos.py` (768x512), real file sizes;",
        f"{sum(row.cached for row in anchors)} of {len(anchors)} anchor results from the cache.",
        "",
        "## BD-rate of nc-overfit (negative: fewer bits at equal quality)",
        "",
        "| effort | anchor | " + " | ".join(METRICS.values()) + " | over PSNR-RGB (dB) |",
        "|---|---|" + "---:|" * (len(METRICS) + 1),
    ]
    for anchor, entries in bd.items():
        for codec in sorted({e.codec for e in entries if e.codec.startswith(CODEC)}):
            cells = [*bd_cells(entries, codec, METRICS), psnr_span(entries, codec)]
            lines.append(f"| {codec.split()[-1]} | {anchor} | " + " | ".join(cells) + " |")
    lines += ["", "## BD-rate of nc-overfit per photo (PSNR-RGB)", ""]
    lines += ["| photo | effort | " + " | ".join(photo_bd) + " |"]
    lines += ["|---|---|" + "---:|" * len(photo_bd)]
    for photo in next(iter(photo_bd.values())):
        for codec in efforts:
            cells = [
                bd_cells(by_photo[photo], codec, ["psnr"])[0] for by_photo in photo_bd.values()
            ]
            lines.append(f"| {photo} | {codec.split()[-1]} | " + " | ".join(cells) + " |")
    lines += ["", "## Means per setting", ""]
    lines += ["| setting | bpp | PSNR (dB) | MS-SSIM | encode (s) | / WebP's | decode (s) |"]
    lines += ["|---|---:|---:|---:|---:|---:|---:|"]
    for s in summaries:
        m = s.means
        spent = times.get(s.setting)
        cells = [cell(m["bpp"], 4), cell(m["psnr"], 2), cell(m["ms_ssim"], 5)]
        encode, decode, over_webp = spent or (None, None, None)
        cells += [cell(encode, 1), cell(over_webp, 0), cell(decode, 3)]
        lines.append(f"| {s.setting} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=ROOT / "data" / "photos" / "validation")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--efforts", nargs="+", default=["fast", "default"])
    parser.add_argument("--qualities", type=float, nargs="+", default=[1, 3, 5, 7])
    parser.add_argument("--device", default=os.environ.get(ENVIRONMENT, "auto"))
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    parser.add_argument(
        "--stem", default="overfit-rd", help="report file names: NAME.json, NAME.md"
    )
    done = parser.add_mutually_exclusive_group()
    done.add_argument("--encodes-only", action="store_true", help="stop after nc-overfit's encodes")
    done.add_argument(
        "--encoded-on", metavar="DEVICE", help="report the encodes stored for DEVICE, encode none"
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="measure the anchors anew, not from the cache"
    )
    args = parser.parse_args()
    path = args.out / f"{args.stem}.encodes.json"
    if args.encoded_on:
        cache = EncodeCache.stored(path, args.encoded_on)
    else:
        select(args.device)
        cache = EncodeCache(path, str(torch_device()), torch.get_num_threads())
    photos = sorted(args.photos.glob("*.png"))[: args.limit]
    if not photos:
        raise SystemExit(f"no PNG photos in {args.photos}: run scripts/data/photos.py first")
    rows, times = [], {}
    for effort in args.efforts:
        for quality in args.qualities:
            entries = []
            for photo in photos:
                row, entry = cache.measured(photo, effort, quality)
                print(f"{row.setting} {photo.name}: {row.bpp:.4f} bpp {row.psnr:.2f} dB, "
                      f"encode {entry['encode_s']:.0f} s, decode {entry['decode_s']:.3f} s",
                      flush=True)  # fmt: skip
                rows.append(row)
                entries.append(entry)
            times[row.setting] = timing(entries)
    if args.encodes_only:
        return
    results = None if args.no_cache else ResultCache(default_root())
    anchors = run_all(codec_tasks(photos, list(OTHERS), {}, sweep=True), cache=results)
    failed = [row for row in anchors if row.error]
    if failed:
        raise SystemExit(f"{len(failed)} encodings failed, first: {failed[0].error}")
    efforts = sorted({row.codec for row in rows})  # nc-overfit's rows, a codec per effort
    rows += anchors
    summaries = summarize(rows)
    bd = {anchor: bd_rates(summaries, anchor) for anchor in OTHERS}
    photo_bd = {anchor: per_input_bd_rates(rows, efforts, anchor) for anchor in OTHERS}
    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "photos": [p.name for p in photos],
        "device": cache.device,
        "threads": cache.threads,
        "results": [row.to_dict() for row in rows],
        "seconds": times,
        "summary": [asdict(s) for s in summaries],
        "bd_rates": {anchor: [asdict(e) for e in entries] for anchor, entries in bd.items()},
        "bd_rates_per_photo": {
            anchor: {photo: [asdict(e) for e in entries] for photo, entries in by_photo.items()}
            for anchor, by_photo in photo_bd.items()
        },
    }
    (args.out / f"{args.stem}.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / f"{args.stem}.md").write_text(
        markdown(summaries, efforts, bd, photo_bd, times, cache, anchors)
    )
    print((args.out / f"{args.stem}.md").read_text())


if __name__ == "__main__":
    main()
