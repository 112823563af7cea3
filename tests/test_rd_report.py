"""scripts/rd_report.py: nc-photo's report against Pillow's codecs, kept in the result cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "rd_report.py"
CUPS = ROOT / "tests" / "fixtures" / "photos" / "cups.png"


def test_a_second_report_takes_every_result_from_the_cache(tmp_path):
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    Image.open(CUPS).crop((0, 0, 64, 48)).save(photos / "cups.png")
    env = {**os.environ, "NCCLI_HOME": str(tmp_path / "home")}
    results, markdowns = [], []
    for args in ([], [], ["--no-cache", "-j", "2"]):
        command = [sys.executable, SCRIPT, "--photos", photos, "--out", out, *args]
        run = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
        assert run.returncode == 0, run.stderr
        results.append(json.loads((out / "image-rd.json").read_text())["results"])
        markdowns.append((out / "README.md").read_text())
    first, second, fresh = results
    codecs = {"nc-photo", "nc-photo fast", "webp", "jpeg", "avif", "jpeg2000"}
    assert {r["codec"] for r in fresh} == codecs
    assert not any(r["cached"] for r in first + fresh) and all(r["cached"] for r in second)
    assert [{**r, "cached": False} for r in second] == first == fresh  # two workers: same bits
    assert f"0 of {len(first)} results from" in markdowns[0]
    assert f"{len(first)} of {len(first)} results from" in markdowns[1]
