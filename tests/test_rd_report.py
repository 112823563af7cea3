"""scripts/rd_report.py: nc-photo's report against Pillow's codecs, kept in the result cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import load_script
from PIL import Image

from nccli.evaluation.bd import BDEntry

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "rd_report.py"
CUPS = ROOT / "tests" / "fixtures" / "photos" / "cups.png"


def run_report(tmp_path: Path, *args: str) -> tuple[dict, str]:
    """Run the report on a 64x48 crop of the cups photo, its cache under ``tmp_path``: its
    JSON and its markdown."""
    photos, out = tmp_path / "photos", tmp_path / "out"
    if not photos.exists():
        photos.mkdir()
        Image.open(CUPS).crop((0, 0, 64, 48)).save(photos / "cups.png")
    env = {**os.environ, "NCCLI_HOME": str(tmp_path / "home")}
    command = [sys.executable, SCRIPT, "--photos", photos, "--out", out, *args]
    run = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    assert run.returncode == 0, run.stderr
    return json.loads((out / "image-rd.json").read_text()), (out / "README.md").read_text()


def test_a_second_report_takes_every_result_from_the_cache(tmp_path):
    reports = [run_report(tmp_path, *args) for args in ([], [], ["--no-cache", "-j", "2"])]
    first, second, fresh = (report["results"] for report, _ in reports)
    codecs = {"nc-photo", "nc-photo fast", "webp", "jpeg", "avif", "jpeg2000"}
    assert {r["codec"] for r in fresh} == codecs
    assert not any(r["cached"] for r in first + fresh) and all(r["cached"] for r in second)
    assert [{**r, "cached": False} for r in second] == first == fresh  # two workers: same bits
    assert f"0 of {len(first)} results from" in reports[0][1]
    assert f"{len(first)} of {len(first)} results from" in reports[1][1]
    assert_tables_show_the_json_bd_rates(*reports[2])


def assert_tables_show_the_json_bd_rates(report: dict, text: str) -> None:
    """The markdown's BD-rate tables of both efforts hold the JSON's BD-rates, cell by cell."""
    lines = text.splitlines()
    metrics = load_script("rd_report").METRICS
    assert len(report["bd_rates"]) == 4
    for codec, heading in (("nc-photo", "default effort"), ("nc-photo fast", "--effort fast")):
        start = next(i for i, line in enumerate(lines) if heading in line)
        for anchor, entries in report["bd_rates"].items():
            by_metric = {e["metric"]: BDEntry(**e) for e in entries if e["codec"] == codec}
            row = f"| {anchor} | " + " | ".join(by_metric[m].text() for m in metrics) + " |"
            assert row in lines[start : start + 8], (codec, anchor)
