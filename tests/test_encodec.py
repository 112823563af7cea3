"""The EnCodec backends with random weights in the store: streaming, framing, bitrates,
entropy coding, damage and missing weights. (Equality with the `encodec` package itself is
tests/test_compat_encodec.py.)"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from conftest import DEVICES
from safetensors.torch import save_file

from nccli import container
from nccli.audio import decode_audio, encode_audio, read_decoded
from nccli.codecs.audio.encodec import PAYLOAD_FRAMES, Encodec24
from nccli.codecs.device import ENVIRONMENT
from nccli.entropy.adaptive import CodeTables
from nccli.errors import InvalidInputError, UsageError
from nccli.media.audio import Audio
from nccli.models.audio import SPECS, Encodec
from nccli.zoo import store

MODELS = ("encodec-24khz", "encodec-48khz")


def random_encodec(model_id: str, seed: int = 0) -> Encodec:
    torch.manual_seed(seed)
    model = Encodec(SPECS[model_id])
    with torch.no_grad():
        model.quantizer.codebooks.normal_(std=0.1)
    return model


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    """A store holding both configurations with random weights."""
    home = tmp_path_factory.mktemp("encodec-home")
    (home / "models").mkdir()
    for model_id in MODELS:
        tensors = {k: v.contiguous() for k, v in random_encodec(model_id).state_dict().items()}
        save_file(tensors, home / "models" / f"{model_id}.safetensors", {"architecture": model_id})
    return home


@pytest.fixture
def home(weights, monkeypatch) -> Path:
    monkeypatch.setenv("NCCLI_HOME", str(weights))
    store.load_model.cache_clear()
    yield weights
    store.load_model.cache_clear()


def speechlike(seconds: float, rate: int, channels: int) -> Audio:
    """Voiced bursts: a gliding harmonic source under a syllable-rate envelope, plus noise."""
    t = np.arange(int(seconds * rate)) / rate
    pitch = 140 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * 3.3 * t), 0, None) ** 2
    rng = np.random.default_rng(1)
    lanes = [0.2 * voice * envelope + 0.01 * rng.standard_normal(len(t)) for _ in range(channels)]
    return Audio(np.stack(lanes, 1).astype(np.float32), rate, "s16")


def encoded(audio: Audio, codec: str, block: int | None = None, **params: object) -> bytes:
    buffer = io.BytesIO()
    if block is None:
        encode_audio(audio, buffer, codec, **params)
    else:
        stream = Encodec24().encoder(audio.info, {"bitrate": params.get("bitrate", 6.0)})
        payloads = []
        for start in range(0, len(audio.samples), block):
            payloads += stream.push(audio.samples[start : start + block])
        return b"".join(payloads + stream.flush())
    return buffer.getvalue()


@pytest.mark.parametrize("model_id", MODELS)
def test_round_trip_restores_rate_channels_and_length(home, model_id) -> None:
    audio = speechlike(2.7, 44100, 2)
    data = encoded(audio, model_id, bitrate=6)
    header = container.loads(data).header
    assert header.model.id == model_id and header.fields["codebooks"] == (
        8 if "24" in model_id else 4
    )
    decoded = read_decoded(decode_audio(io.BytesIO(data)))
    assert decoded.info == audio.info
    assert np.isfinite(decoded.samples).all() and np.abs(decoded.samples).max() > 0


def test_codes_do_not_depend_on_how_the_input_arrives(home) -> None:
    audio = speechlike(3.3, 24000, 1)
    payloads = {encoded(audio, "encodec-24khz", block=size) for size in (997, 4096, 24000, 10**6)}
    assert len(payloads) == 1


@pytest.mark.parametrize("device", DEVICES)
def test_files_encoded_on_any_device_decode_alike_on_the_cpu(home, monkeypatch, device) -> None:
    audio = speechlike(2.0, 24000, 1)
    monkeypatch.setenv(ENVIRONMENT, "cpu")
    on_the_cpu = encoded(audio, "encodec-24khz", bitrate=6)
    monkeypatch.setenv(ENVIRONMENT, device)
    data = encoded(audio, "encodec-24khz", bitrate=6)
    decoded_there = read_decoded(decode_audio(io.BytesIO(data))).samples
    monkeypatch.setenv(ENVIRONMENT, "cpu")
    decoded_here = read_decoded(decode_audio(io.BytesIO(data))).samples
    # The same codes; the float decoders may differ by a unit in the last 16-bit place.
    assert np.abs(decoded_there - decoded_here).max() <= 2 / 32768
    assert np.abs(decoded_here).max() > 0.01
    assert abs(len(data) / len(on_the_cpu) - 1) < 0.05


def test_stream_matches_whole_signal_decode(home) -> None:
    """Decoding the stream gives what the model decodes from the whole signal's codes."""
    audio = speechlike(2.0, 24000, 1)
    data = encoded(audio, "encodec-24khz", bitrate=3)
    decoded = read_decoded(decode_audio(io.BytesIO(data))).samples[:, 0]
    model = random_encodec("encodec-24khz").eval()
    with torch.no_grad():
        frames = model.encode(torch.from_numpy(audio.samples.T)[None], 4)
        whole = model.decode(frames)[0, 0, : len(decoded)].numpy()
    clipped = np.clip(whole, -1, 1)  # the s16 output clips; the model's float output does not
    assert np.abs(decoded - clipped).max() < 1e-3


@pytest.mark.parametrize(("kbps", "codebooks"), [(1.5, 2), (3, 4), (6, 8), (12, 16), (24, 32)])
def test_bitrate_picks_the_codebooks(home, kbps, codebooks) -> None:
    data = encoded(speechlike(1.0, 24000, 1), "encodec-24khz", bitrate=kbps)
    assert container.loads(data).header.fields["codebooks"] == codebooks


def test_bitrate_outside_the_model_is_refused(home) -> None:
    with pytest.raises(UsageError, match=r"bitrate must lie in 1\.5\.\.24"):
        encoded(speechlike(1.0, 24000, 1), "encodec-24khz", bitrate=48)
    with pytest.raises(UsageError, match="at most 2 channels"):
        encoded(Audio(np.zeros((100, 3), np.float32), 24000, "f32"), "encodec-48khz")


def test_payloads_hold_a_second_of_codes_each(home) -> None:
    data = encoded(speechlike(4.5, 24000, 1), "encodec-24khz")
    payloads = container.loads(data).payloads()
    assert len(payloads) == 5  # 338 frames: four whole seconds and the rest
    assert PAYLOAD_FRAMES == 75


@pytest.mark.parametrize("model_id", MODELS)
def test_tiny_inputs_survive(home, model_id) -> None:
    for frames in (1, 7, 400):
        audio = Audio(np.full((frames, 1), 0.25, np.float32), 16000, "f32")
        decoded = read_decoded(decode_audio(io.BytesIO(encoded(audio, model_id))))
        assert decoded.samples.shape == (frames, 1)


def test_code_tables_round_trip_and_learn() -> None:
    rng = np.random.default_rng(0)
    skewed = np.minimum(rng.geometric(0.05, size=(4, 2000)), 1023)
    encoder, decoder = CodeTables(4, 1024), CodeTables(4, 1024)
    sizes = []
    for part in np.split(skewed, 20, axis=1):
        data = encoder.encode(part)
        sizes.append(len(data))
        assert np.array_equal(decoder.decode(data, part.shape[1]), part)
    fixed = 4 * 100 * 10 / 8  # bytes of 10-bit packing per part
    assert sizes[0] > 0.8 * fixed and sizes[-1] < 0.7 * fixed  # learns the skew
    uniform = rng.integers(0, 1024, size=(4, 3000))
    assert len(CodeTables(4, 1024).encode(uniform)) < 1.01 * 4 * 3000 * 10 / 8 + 16


def test_damaged_codes_are_refused() -> None:
    data = CodeTables(2, 1024).encode(np.zeros((2, 10), np.int64))
    with pytest.raises(InvalidInputError):
        CodeTables(2, 1024).decode(data[:-2] + b"\xff\xff\xff", 10)


def test_truncated_stream_keeps_the_intact_seconds(home) -> None:
    data = encoded(speechlike(4.0, 24000, 1), "encodec-24khz")
    third = [c for c in container.loads(data).layout if c.type == "DATA"][2]
    blocks = []
    with pytest.raises(InvalidInputError, match=r"damaged after \d\.\d\d s"):
        for block in decode_audio(io.BytesIO(data[: third.offset + 12])).blocks():
            blocks.append(block)
    assert sum(len(b) for b in blocks) >= 24000


def test_missing_weights_say_which_and_how(home, tmp_path, monkeypatch) -> None:
    source = tmp_path / "a.ncc"
    source.write_bytes(encoded(speechlike(1.0, 24000, 1), "encodec-24khz"))
    monkeypatch.setenv("NCCLI_HOME", str(tmp_path / "empty"))
    result = subprocess.run(
        [sys.executable, "-m", "nccli", "decode", str(source), "-o", str(tmp_path / "a.wav")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "model encodec-24khz is not in" in result.stderr
    assert "nccli models pull encodec-24khz" in result.stderr
    assert not (tmp_path / "a.wav").exists()


def test_other_weights_are_refused(home, tmp_path, monkeypatch) -> None:
    data = encoded(speechlike(1.0, 24000, 1), "encodec-24khz")
    other = tmp_path / "models"
    other.mkdir()
    tensors = {
        k: v.contiguous() for k, v in random_encodec("encodec-24khz", 1).state_dict().items()
    }
    save_file(tensors, other / "encodec-24khz.safetensors", {"architecture": "encodec-24khz"})
    monkeypatch.setenv("NCCLI_HOME", str(tmp_path))
    store.load_model.cache_clear()
    with pytest.raises(InvalidInputError, match="made with encodec-24khz weights of sha256"):
        read_decoded(decode_audio(io.BytesIO(data)))


@pytest.mark.parametrize("model_id", MODELS)
def test_rate_script_weighs_the_coded_codes_against_packing(home, tmp_path, model_id) -> None:
    path = tmp_path / "speech.wav"
    audio = speechlike(3.0, 24000, 1)
    soundfile.write(path, audio.samples, audio.sample_rate)
    table = tmp_path / "rates.json"
    script = Path(__file__).parents[1] / "scripts" / "rate_encodec.py"
    run = subprocess.run(
        [sys.executable, script, path, "--model", model_id, "--bitrates", "6", "--json", table],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "under packing" in run.stdout
    (rate,) = json.loads(table.read_text())
    assert rate["codebooks"] == (8 if "24" in model_id else 4) and rate["nominal_kbps"] == 6.0
    # Whole frames of codes (and the 48 kHz model's overlapping segments) only add to packing.
    assert 6.0 <= rate["packed_kbps"] <= 6.0 * 1.08
    assert 0 < rate["codes_kbps"] < rate["file_kbps"]
    overhead = (rate["file_kbps"] - rate["codes_kbps"]) * 1000 / 8 * rate["seconds"]
    assert overhead < 600  # the header and each second's chunk framing, in bytes
    assert rate["saving"] == pytest.approx(1 - rate["codes_kbps"] / rate["packed_kbps"])
