"""A third-party backend installed through the `nccli.codecs` entry point works from the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nccli.media.image import read_image

PLUGIN = Path(__file__).parent / "plugin"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """Install the example plug-in with pip into its own directory (a real dist-info)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(PLUGIN),
        ],
        check=True,
        capture_output=True,
    )
    assert list(target.glob("nccli_example_codec-*.dist-info"))
    return target


def test_plugin_is_listed_and_round_trips(cli, site, tmp_path, photo_path):
    env = {"PYTHONPATH": str(site)}
    listing = json.loads(cli("codecs", "--json", env=env).stdout)
    entry = next(e for e in listing if e["name"] == "zraw")
    assert entry["available"] and entry["lossless"] and entry["params"][0]["name"] == "level"
    encoded = cli(
        "encode", photo_path, "-o", tmp_path / "p.ncc", "-c", "zraw", "-p", "level=9", env=env
    )
    assert encoded.returncode == 0, encoded.stderr
    decoded = cli("decode", tmp_path / "p.ncc", "-o", tmp_path / "p.png", env=env)
    assert decoded.returncode == 0, decoded.stderr
    original = read_image(photo_path.read_bytes()).pixels
    np.testing.assert_array_equal(read_image((tmp_path / "p.png").read_bytes()).pixels, original)


def test_file_from_a_missing_plugin_names_the_codec(cli, site, tmp_path, photo_path):
    made = cli(
        "encode", photo_path, "-o", tmp_path / "p.ncc", "-c", "zraw", env={"PYTHONPATH": str(site)}
    )
    assert made.returncode == 0
    result = cli("decode", tmp_path / "p.ncc", "-o", tmp_path / "p.png")
    assert result.returncode == 2
    assert b"needs codec 'zraw', which is not installed" in result.stderr


def test_broken_plugin_is_reported_not_fatal(cli, site, photo_path, tmp_path):
    env = {"PYTHONPATH": str(site)}
    listing = json.loads(cli("codecs", "--json", env=env).stdout)
    broken = next(e for e in listing if e["name"] == "broken")
    assert not broken["available"] and "failed to load" in broken["reason"]
    result = cli("encode", photo_path, "-o", tmp_path / "o.ncc", "-c", "broken", env=env)
    assert result.returncode == 2
    assert b"codec 'broken' failed to load" in result.stderr
