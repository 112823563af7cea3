"""The documented CI recipe passes on an unchanged run and fails once a regression is injected."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from nccli.media.image import Image, read_image, write_image

RECIPE = Path(__file__).parents[1] / "docs" / "ci" / "quality-gate.mk"


def make(target: str, work: Path) -> subprocess.CompletedProcess[str]:
    variables = [
        f"NCCLI={sys.executable} -m nccli",
        f"SAMPLES={work / 'samples'}",
        "CODECS=-c webp",
    ]
    return subprocess.run(
        ["make", "--no-print-directory", "-f", str(RECIPE), target, *variables],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_recipe_passes_then_fails_on_an_injected_regression(tmp_path, photo_path):
    samples = tmp_path / "samples"
    samples.mkdir()
    shutil.copy(photo_path, samples / "photo.png")

    assert make("quality-baseline", tmp_path).returncode == 0
    unchanged = make("quality-gate", tmp_path)
    assert unchanged.returncode == 0, unchanged.stderr
    assert "no regression" in unchanged.stderr

    # Inject a regression: the pipeline now sees a noisier picture under the same name, so
    # every setting spends more bits for a lower PSNR than the baseline recorded.
    pixels = read_image(photo_path.read_bytes()).pixels.astype(int)
    noise = np.random.default_rng(0).integers(-12, 13, size=pixels.shape)
    noisy = np.clip(pixels + noise, 0, 255).astype(np.uint8)
    (samples / "photo.png").write_bytes(write_image(Image(noisy), ".png"))
    regressed = make("quality-gate", tmp_path)
    assert regressed.returncode != 0
    assert "regressions against the baseline" in regressed.stderr
    report = json.loads((tmp_path / "quality-report.json").read_text())
    assert not report["passed"]
    metrics = {r["metric"] for r in report["baseline"]["regressions"]}
    assert {"psnr", "bpp"} <= metrics
    assert (tmp_path / "quality-summary.md").read_text().startswith("| setting |")
