"""--verify: decode every produced file again in a fresh process and compare what it wrote
with this process's decode: the same PNG pixels, or the same WAV bytes."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np

from nccli import api
from nccli.evaluation.runner import Row, Task
from nccli.media.audio import Audio
from nccli.media.audio_writer import open_writer
from nccli.media.image import read_image

#: The file format each modality is decoded to.
FORMATS = {"image": "png", "audio": "wav"}


def verify(tasks: list[Task], rows: list[Row], keep_dir: Path, out_dir: Path) -> None:
    """Set ``row.verified`` for every codec run whose file was kept."""
    kept = [(task, row) for task, row in zip(tasks, rows, strict=True) if _kept(task, row)]
    for modality, suffix in FORMATS.items():
        group = [(task, row) for task, row in kept if row.modality == modality]
        if not group:
            continue
        folder = out_dir / modality
        ok = _decode_fresh([Path(task.keep) for task, _ in group], folder, suffix)
        for task, row in group:
            ncc = Path(task.keep)
            decoded = folder / f"{ncc.stem}.{suffix}"
            row.verified = ok and decoded.exists() and _same(ncc, decoded)


def _decode_fresh(files: list[Path], out_dir: Path, suffix: str) -> bool:
    command = [sys.executable, "-m", "nccli", "decode", *map(str, files)]
    command += ["-o", str(out_dir), "--format", suffix, "--quiet"]
    out_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(command, capture_output=True, check=False).returncode == 0


def _same(ncc: Path, decoded: Path) -> bool:
    here = api.decode_media(ncc.read_bytes()).media
    if isinstance(here, Audio):
        buffer = io.BytesIO()
        writer = open_writer(buffer, here.info, ".wav", seekable=True)
        writer.write(here.samples)
        writer.close()
        return buffer.getvalue() == decoded.read_bytes()
    there = read_image(decoded.read_bytes()).pixels
    return bool(here.pixels.shape == there.shape and np.array_equal(here.pixels, there))


def _kept(task: Task, row: Row) -> bool:
    return task.keep is not None and row.error is None and Path(task.keep).exists()
