"""--verify: decode every produced file again in a fresh process and compare the pixels."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from nccli import api
from nccli.evaluation.runner import Row, Task
from nccli.media.image import read_image


def verify(tasks: list[Task], rows: list[Row], keep_dir: Path, out_dir: Path) -> None:
    """Set ``row.verified`` for every codec run whose file was kept."""
    kept = [(task, row) for task, row in zip(tasks, rows, strict=True) if _kept(task, row)]
    if not kept:
        return
    fresh = subprocess.run(
        [
            sys.executable,
            "-m",
            "nccli",
            "decode",
            str(keep_dir),
            "-o",
            str(out_dir),
            "--format",
            "png",
            "--quiet",
        ],
        capture_output=True,
        check=False,
    )
    for task, row in kept:
        ncc = Path(task.keep)
        decoded_path = out_dir / f"{ncc.stem}.png"
        if fresh.returncode != 0 or not decoded_path.exists():
            row.verified = False
            continue
        here = api.decode_media(ncc.read_bytes()).media.pixels
        there = read_image(decoded_path.read_bytes()).pixels
        row.verified = bool(here.shape == there.shape and np.array_equal(here, there))


def _kept(task: Task, row: Row) -> bool:
    return task.keep is not None and row.error is None and Path(task.keep).exists()
