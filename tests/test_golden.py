"""Golden files: every .ncc version ever written must still decode to the same pixels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import nccli
from nccli.media.image import read_image

GOLDEN = Path(__file__).parent / "fixtures" / "golden"
MANIFEST = json.loads((GOLDEN / "manifest.json").read_text())
#: Lossy decoders may round differently across library releases; the container may not.
LOSSY_MAX_DIFF = 2


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_golden_file_decodes_as_when_it_was_written(name):
    entry = MANIFEST[name]
    decoded = nccli.decode_media((GOLDEN / f"{name}.ncc").read_bytes())
    expected = read_image((GOLDEN / f"{name}.expected.png").read_bytes()).pixels
    assert decoded.header.codec == entry["codec"]
    assert decoded.header.media == entry["media"]
    assert decoded.header.metadata == {"golden": name}
    assert decoded.media.pixels.dtype == expected.dtype
    if entry["codec"] == "png":
        np.testing.assert_array_equal(decoded.media.pixels, expected)
    else:
        difference = np.abs(decoded.media.pixels.astype(int) - expected.astype(int))
        assert difference.max() <= LOSSY_MAX_DIFF


def test_every_golden_file_is_listed():
    assert {p.stem for p in GOLDEN.glob("*.ncc")} == set(MANIFEST)


def test_golden_decodes_from_the_cli(cli, tmp_path):
    source = GOLDEN / "image-v1-png-grey16.ncc"
    result = cli("decode", source, "-o", tmp_path / "g.png")
    assert result.returncode == 0, result.stderr
    image = read_image((tmp_path / "g.png").read_bytes())
    assert (image.mode, image.bit_depth) == ("L", 16)
