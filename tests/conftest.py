"""Shared fixtures: real photographs, images in every mode, and a CLI runner."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures"
SCRIPTS = Path(__file__).parents[1] / "scripts"
PHOTO = FIXTURES / "photos" / "cups.png"
#: Devices to encode on in cross-device tests: the CPU run checks the test itself here.
DEVICES = ("cpu", pytest.param("cuda", marks=pytest.mark.cuda))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``cuda`` are skipped where torch sees no CUDA device."""
    marked = [item for item in items if item.get_closest_marker("cuda")]
    if not marked:
        return
    import torch

    if not torch.cuda.is_available():
        for item in marked:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch) -> Path:
    """Caches and downloads go to a fresh directory, never the user's ~/.cache/nccli."""
    home = tmp_path_factory.mktemp("nccli-home")
    monkeypatch.setenv("NCCLI_HOME", str(home))
    return home


@pytest.fixture
def photo_path() -> Path:
    return PHOTO


@pytest.fixture
def photo() -> np.ndarray:
    from nccli.media import read_image

    return read_image(PHOTO.read_bytes()).pixels


def run_cli(
    *args: str | Path, stdin: bytes | None = None, cwd: Path | None = None, env: dict | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run `python -m nccli ARGS` in a fresh process, as a user's shell would."""
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "nccli", *map(str, args)],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        cwd=cwd,
        env=full_env,
        timeout=300,
    )


@pytest.fixture
def cli():
    return run_cli


#: The upstream packages `make install` puts beside the venv, and the stand-ins they import.
COMPAT = Path(__file__).parents[1] / ".venv" / "compat"
COMPAT_STUBS = Path(__file__).parent / "compat" / "stubs"


def run_compat(*args: str | Path) -> str:
    """Run `python ARGS` with the upstream packages importable; its stdout (asserts success)."""
    path = [str(COMPAT), str(COMPAT_STUBS), str(Path(__file__).parents[1])]
    result = subprocess.run(
        [sys.executable, "-W", "ignore", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def report_of(result: subprocess.CompletedProcess[bytes]) -> dict:
    """The JSON report of an `nccli eval --json -` run that measured every file."""
    assert result.returncode in (0, 4), result.stderr
    return json.loads(result.stdout)


def folder_with(directory: Path, source: Path) -> Path:
    """``directory`` created, holding a copy of ``source``."""
    directory.mkdir()
    shutil.copy(source, directory / source.name)
    return directory


def synthetic(height: int, width: int, channels: int, dtype: str = "uint8", seed: int = 0):
    """A smooth image with some texture, so that lossy codecs behave as on photographs."""
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([np.sin(x / 7.0 + c) + np.cos(y / 5.0 - c) for c in range(channels)], axis=-1)
    noise = rng.normal(0, 0.01, size=base.shape)
    return np.clip((base + 2) / 4 + noise, 0, 1).__mul__(top).round().astype(dtype)


def load_script(name: str):
    """scripts/NAME.py loaded as the module NAME (in sys.modules, as its dataclasses need),
    to test its functions."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
