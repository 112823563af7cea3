"""scripts/rd_effort.py: nc-photo at a higher effort set against stored curves, resumable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from nccli import api
from nccli.metrics.image import psnr

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "rd_effort.py"
CUPS = ROOT / "tests" / "fixtures" / "photos" / "cups.png"


def rd_effort(photos: Path, report: Path, out: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, SCRIPT, "--photos", photos, "--report", report, "--out", out]
    command += ["--effort", "10", "--qualities", "3", "4", "--device", "cpu"]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT)


def stored_report(photo: Path) -> dict:
    """rd_report.py's rows and means of nc-photo and WebP on one photo, at a few settings."""
    pixels = np.array(Image.open(photo).convert("RGB"))
    rows = []
    for codec, qualities in (("nc-photo", (1, 3, 5)), ("webp", (30, 60, 90))):
        for quality in qualities:
            data = api.encode(pixels, codec, quality=quality)
            decoded, _ = api.decode(data)
            bpp = len(data) * 8 / (pixels.shape[0] * pixels.shape[1])
            rows.append(
                {"codec": codec, "input": str(photo), "bpp": bpp, "error": None,
                 "psnr": psnr(pixels, np.asarray(decoded))}
            )  # fmt: skip
    summary = [{"codec": r["codec"], "means": {"bpp": r["bpp"], "psnr": r["psnr"]}} for r in rows]
    return {"results": rows, "summary": summary}


def test_encodes_are_set_against_the_stored_curves_and_kept(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.open(CUPS).crop((100, 100, 228, 196)).save(photos / "cups.png")
    report, out = tmp_path / "image-rd.json", tmp_path / "effort.json"
    stored = stored_report(photos / "cups.png")
    report.write_text(json.dumps(stored))
    run = rd_effort(photos, report, out)
    assert run.returncode == 0, run.stderr
    entry, _ = json.loads(out.read_text())["encodes"]
    assert (entry["photo"], entry["quality"], entry["effort"]) == ("cups.png", 3.0, "10")
    assert entry["device"] == "cpu" and entry["bytes"] * 8 / (128 * 96) == entry["bpp"]
    # at quality 3, inside the curve of 1..5; ten steps on a 128x96 crop land within a few
    # per cent of it, either side depending on the CPU's float path (+5.1 % on one machine)
    assert -0.5 < entry["vs_nc-photo"] < 0.1
    assert "vs_webp" in entry
    assert "| cups | 3 | 10 | cpu |" in run.stdout and "| cups | 4 | 10 | cpu |" in run.stdout
    bd = run.stdout.splitlines()[-1]
    assert bd.startswith("BD-rate of effort 10 on cpu (2 qualities): nc-photo ") and "webp" in bd

    before = out.read_text()
    again = rd_effort(photos, report, out)
    assert again.returncode == 0 and out.read_text() == before  # nothing encoded again

    other = json.loads(before) | {"weights": "0" * 64}
    out.write_text(json.dumps(other))
    refused = rd_effort(photos, report, out)
    assert refused.returncode != 0 and "other weights" in refused.stderr
