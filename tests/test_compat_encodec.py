"""nccli's EnCodec against the `encodec` package itself, with the same random weights.

Both published configurations (24 kHz causal mono, 48 kHz segmented stereo), every trained
bandwidth: the codes are identical, the segment scales too, and the decoded audio agrees
within 1e-4, for whole-signal coding and for nccli's streams fed in uneven chunks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
COMPAT = ROOT / ".venv" / "compat"
STUBS = Path(__file__).parent / "compat" / "stubs"
TOLERANCE = 1e-4

pytestmark = pytest.mark.skipif(
    not (COMPAT / "encodec").is_dir(), reason="encodec is installed by `make install`"
)


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(COMPAT), str(STUBS), str(ROOT)])}
    result = subprocess.run(
        [sys.executable, str(Path(__file__).parent / "compat" / "compare_encodec.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_configuration_and_bandwidth_is_compared(rows):
    assert {(row["model"], row["bandwidth"]) for row in rows} == {
        *(("encodec-24khz", b) for b in (1.5, 3.0, 6.0, 12.0, 24.0)),
        *(("encodec-48khz", b) for b in (3.0, 6.0, 12.0, 24.0)),
    }


@pytest.mark.parametrize("index", range(9))
def test_same_codes_and_audio_as_encodec(rows, index):
    row = rows[index]
    assert row["codebooks"] == row["their_codebooks"]
    assert row["codes_equal"] and row["stream_codes_equal"], row
    assert row["scales_equal"], row
    assert row["audio_peak"] > 0.01, "a silent decoder would compare equal"
    assert row["audio_max_diff"] <= TOLERANCE, row
    assert row["stream_audio_max_diff"] <= TOLERANCE, row
    assert len(set(row["lengths"])) == 1, row
