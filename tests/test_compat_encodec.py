"""nccli's EnCodec against the `encodec` package itself, with the same random weights.

Both published configurations (24 kHz causal mono, 48 kHz segmented stereo), every trained
bandwidth: the codes are identical, the segment scales too, and the decoded audio agrees
within 1e-4, for whole-signal coding and for nccli's streams fed in uneven chunks.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import COMPAT, run_compat

TOLERANCE = 1e-4

pytestmark = pytest.mark.skipif(
    not (COMPAT / "encodec").is_dir(), reason="encodec is installed by `make install`"
)


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    output = run_compat(Path(__file__).parent / "compat" / "compare_encodec.py")
    return json.loads(output.strip().splitlines()[-1])


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


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A 24 kHz checkpoint as the `encodec` package saves it (weight-normalised convs)."""
    path = tmp_path_factory.mktemp("encodec") / "encodec_24khz.th"
    script = (
        "import sys, torch\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from compare_encodec import random_models\n"
        "torch.save(random_models('encodec-24khz', 3)[0].state_dict(), sys.argv[1])\n"
    )
    run_compat("-c", script, path, Path(__file__).parent / "compat")
    return path


def test_pull_imports_an_encodec_checkpoint(cli, checkpoint, isolated_home, monkeypatch):
    from test_zoo import Server

    from nccli.zoo import registry, store

    data = checkpoint.read_bytes()
    server = Server()
    server.routes["/encodec_24khz.th"] = (200, data, None)
    configs = isolated_home / "configs"
    configs.mkdir()
    (configs / "encodec.toml").write_text(
        'source = "test"\ncard = "t"\n[models.encodec-24khz]\n'
        'architecture = "encodec-24khz"\nmodality = "audio"\n'
        f'url = "{server.url}/encodec_24khz.th"\n'
        f'sha256_prefix = "{hashlib.sha256(data).hexdigest()[:8]}"\n'
    )
    monkeypatch.setenv("NCCLI_CONFIGS", str(configs))
    registry.entries.cache_clear()
    try:
        result = cli("models", "pull", "encodec-24khz")
        assert result.returncode == 0, result.stderr
        info = json.loads(cli("models", "info", "encodec-24khz").stdout)
        assert info["modality"] == "audio" and info["parameters"] > 10_000_000
    finally:
        server.close()
        registry.entries.cache_clear()
        store.load_model.cache_clear()


def test_import_refuses_the_wrong_configuration(cli, checkpoint):
    result = cli("models", "import", str(checkpoint), "--arch", "encodec-48khz", "--id", "x")
    assert result.returncode == 3
    assert b"not a encodec-48khz checkpoint" in result.stderr
