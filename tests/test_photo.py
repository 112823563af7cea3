"""nc-photo: the embedded variable-rate codec, its weights file and its training script."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import load_script, run_cli, synthetic
from PIL import Image
from safetensors.torch import load_file

from nccli import api
from nccli.container import DATA, dumps, loads
from nccli.container.header import ModelRef
from nccli.errors import InvalidInputError
from nccli.metrics.image import psnr
from nccli.zoo import embedded

ROOT = Path(__file__).resolve().parents[1]
CUPS = ROOT / "tests" / "fixtures" / "photos" / "cups.png"


def test_shipped_weights_are_fp16_small_and_self_describing():
    path = embedded.path_of("nc-photo")
    assert path.stat().st_size < 20 * 2**20
    model, info = embedded.read(path)
    assert info["architecture"] == embedded.ARCHITECTURE and int(info["steps"]) > 0
    assert model.levels == len(json.loads(info["lambdas"])) == 8
    from safetensors.torch import load_file

    dtypes = {tensor.dtype for tensor in load_file(path).values()}
    assert torch.float32 not in dtypes and torch.float16 in dtypes


def test_round_trip_and_rate_grows_with_quality(tmp_path):
    sizes = []
    for quality in ("1", "2.5", "8"):
        out = tmp_path / f"q{quality}.ncc"
        result = run_cli("encode", CUPS, "-o", out, "--codec", "nc-photo", "-Q", quality)
        assert result.returncode == 0, result.stderr
        sizes.append(out.stat().st_size)
        assert loads(out.read_bytes()).header.params["quality"] == float(quality)
    assert sizes[0] < sizes[1] < sizes[2]
    decoded = tmp_path / "q8.png"
    assert run_cli("decode", tmp_path / "q8.ncc", "-o", decoded).returncode == 0
    original = np.asarray(Image.open(CUPS).convert("RGB"))
    assert psnr(original, np.asarray(Image.open(decoded))) > 20


def test_grey_images_are_marked_and_come_back_grey_and_closer():
    colour = np.asarray(Image.open(CUPS).convert("RGB"))
    grey = np.repeat(np.asarray(Image.open(CUPS).convert("L"))[:, :, None], 3, axis=2)
    fast = {"quality": 2, "effort": "fast"}
    assert "grey" not in loads(api.encode(colour, "nc-photo", **fast)).header.fields
    data = api.encode(grey, "nc-photo", **fast)
    parsed = loads(data)
    chunks = [(DATA, payload) for payload in parsed.payloads()]
    assert parsed.header.fields["grey"] is True
    decoded, _ = api.decode(data)
    assert (decoded == decoded[:, :, :1]).all()
    fields = {k: v for k, v in parsed.header.fields.items() if k != "grey"}
    tinted, _ = api.decode(dumps(replace(parsed.header, fields=fields), chunks))
    assert (tinted != tinted[:, :, :1]).any()
    assert psnr(grey, decoded) > psnr(grey, tinted) + 0.05
    bad = replace(parsed.header, fields={**parsed.header.fields, "grey": "yes"})
    with pytest.raises(InvalidInputError, match="grey flag"):
        api.decode(dumps(bad, chunks))


def test_bpp_target_is_met_between_levels():
    data = api.encode(CUPS, "nc-photo", bpp=0.5)
    assert len(data) * 8 / (512 * 384) <= 0.5
    quality = loads(data).header.params["quality"]
    assert 1 <= quality <= 8 and quality != int(quality)


@pytest.mark.parametrize("quality", [1, 8])
def test_tiles_leave_no_costly_seams(quality):
    """Tiles of 256 on the 512x384 photo: four times the seam density of the automatic 1024
    tiles on a 2048^2 image (scripts/bench_tiles.py measures that case: within 0.14 dB).
    Four tiles cost a near fixed amount of their own (borders, hyper-latents): 210 bytes, 3.4 %
    of the 6.1 KB file at quality 1, 0.7 % at quality 8 (weights of 86765 steps)."""
    original = np.asarray(Image.open(CUPS).convert("RGB"))
    scores = []
    for tile in (0, 256):
        data = api.encode(original, "nc-photo", quality=quality, tile=tile, effort="fast")
        scores.append((len(data), psnr(original, api.decode(data)[0])))
    (whole_size, whole_psnr), (tiled_size, tiled_psnr) = scores
    assert abs(whole_psnr - tiled_psnr) < 0.2
    assert tiled_size < 1.02 * whole_size + 300


def test_grey_and_odd_sizes_round_trip():
    pixels = synthetic(37, 70, 1)
    decoded, _ = api.decode(api.encode(pixels, "nc-photo", quality=8))
    assert decoded.shape == pixels.shape


def test_tampered_quality_or_model_is_refused():
    parsed = loads(api.encode(CUPS, "nc-photo", quality=3, effort="fast"))
    chunks = [(DATA, payload) for payload in parsed.payloads()]

    def with_header(**changes) -> bytes:
        return dumps(replace(parsed.header, **changes), chunks)

    for quality in (9.5, "3", None):
        with pytest.raises(InvalidInputError, match="quality"):
            api.decode(with_header(params={"quality": quality}))
    other = ModelRef("nc-photo", "0" * 64)
    with pytest.raises(InvalidInputError, match="weights of sha256 000000000000"):
        api.decode(with_header(model=other))
    with pytest.raises(InvalidInputError, match="names model 'nc-image-x'"):
        api.decode(with_header(model=ModelRef("nc-image-x", "0" * 64)))


def training_command(tmp_path: Path, *args: str) -> list[str]:
    """train_image.py for 2 steps of a small model, from scratch, on three synthetic photos
    (and one to validate on) written under tmp_path."""
    for split, count in (("train", 3), ("validation", 1)):
        (tmp_path / "data" / split).mkdir(parents=True)
        for index in range(count):
            pixels = synthetic(96, 128, 3, seed=index)
            Image.fromarray(pixels).save(tmp_path / "data" / split / f"{index}.png")
    return [
        sys.executable, str(ROOT / "scripts" / "train_image.py"),
        "--data", str(tmp_path / "data"), "--init", str(tmp_path / "none"),
        "--export", str(tmp_path / "w.safetensors"),
        "--device", "cpu", "--steps", "2", "--batch", "2", "--patch", "64",
        "--N", "16", "--M", "24", "--threads", "1", "--average-decay", "0.5", "--lr", "1e-2",
        *args,
    ]  # fmt: skip


def test_training_runs_resumes_and_exports(tmp_path):
    command = training_command(tmp_path, "--state", str(tmp_path / "state"))
    for _ in range(2):
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
    assert "resumed the training state" in result.stdout
    state = load_file(tmp_path / "state" / "state.safetensors")
    model, info = embedded.read(tmp_path / "w.safetensors")
    exported = model.g_a[0].weight
    averaged, raw = state["average.g_a.0.weight"], state["model.g_a.0.weight"]
    assert not torch.equal(averaged, raw)
    assert torch.allclose(exported, averaged, atol=1e-3) and not torch.allclose(exported, raw)
    assert info["steps"] == "4" and model.g_a[0].out_channels == 16
    log = [json.loads(line) for line in (tmp_path / "state" / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [2, 4] and len(log[0]["levels"]) == 8
    x = torch.rand(1, 3, 64, 64)
    gains = model.gains(torch.tensor([2.0]))
    chunks, shape = model.compress(x, gains=gains)
    assert model.decompress(chunks, shape, gains=gains).shape == x.shape


def test_the_training_pass_traces_as_one_graph_for_torch_compile(tmp_path):
    # aot_eager traces as inductor and CUDA graphs would (fullgraph: a graph break fails),
    # without needing a C++ compiler.
    result = subprocess.run(
        training_command(tmp_path, "--compile", "aot_eager"),
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "exported" in result.stdout and (tmp_path / "w.safetensors").is_file()


def test_training_turns_the_asked_share_of_patches_grey():
    train_image = load_script("train_image")
    images = [torch.from_numpy(synthetic(80, 96, 3, seed=i)).permute(2, 0, 1) for i in range(3)]

    def grey_patches(share: float) -> int:
        batch = train_image.sample_batch(images, 400, 32, torch.Generator().manual_seed(0), share)
        grey = (batch[:, 0] == batch[:, 1]).all((1, 2)) & (batch[:, 1] == batch[:, 2]).all((1, 2))
        return int(grey.sum())

    assert grey_patches(0.0) == 0 and grey_patches(1.0) == 400
    assert 20 <= grey_patches(0.1) <= 60
    batch = train_image.sample_batch(images, 1, 32, torch.Generator().manual_seed(0), 1.0)
    levels = batch * 255  # grey patches stay on the 8-bit grid
    assert torch.allclose(levels, levels.round(), atol=1e-4) and batch.std() > 0


def test_device_choice(tmp_path):
    out = tmp_path / "x.ncc"
    args = ("encode", CUPS, "-o", out, "-c", "nc-photo", "-Q", "2")
    if not torch.cuda.is_available():
        result = run_cli(*args, "--device", "cuda")
        assert result.returncode == 2 and b"no CUDA device is available" in result.stderr
        assert not out.exists()
    assert run_cli(*args, "--device", "cpu", "-f").returncode == 0
    result = run_cli("decode", out, "-o", tmp_path / "x.png", env={"NCCLI_DEVICE": "gpu"})
    assert result.returncode == 2 and b"--device (or $NCCLI_DEVICE) must be" in result.stderr


@pytest.mark.cuda
def test_gpu_encoded_files_decode_on_the_cpu(tmp_path):
    for quality in ("1", "4.5", "8"):
        ncc = tmp_path / f"{quality}.ncc"
        assert run_cli("encode", CUPS, "-o", ncc, "-c", "nc-photo", "-Q", quality,
                       "--device", "cuda").returncode == 0  # fmt: skip
        on_gpu, on_cpu = tmp_path / "gpu.png", tmp_path / "cpu.png"
        assert run_cli("decode", ncc, "-o", on_gpu, "--device", "cuda", "-f").returncode == 0
        assert run_cli("decode", ncc, "-o", on_cpu, "--device", "cpu", "-f").returncode == 0
        gpu, cpu = (np.asarray(Image.open(p)).astype(int) for p in (on_gpu, on_cpu))
        assert np.abs(gpu - cpu).max() <= 2  # same symbols; reconstructions differ in last bits
