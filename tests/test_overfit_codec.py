"""nc-overfit: fitting at encode time, the bitstream, its exact decoding, and bad input."""

from __future__ import annotations

import dataclasses
import hashlib
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import torch
from conftest import PHOTO

from nccli import api
from nccli.codecs.base import get_codec
from nccli.codecs.device import ENVIRONMENT
from nccli.codecs.image.overfit import (
    EFFORTS,
    fitting_steps,
    grid_count,
    model_shape,
    quality_lambda,
    quality_latent_step,
)
from nccli.codecs.progress import reporting
from nccli.container import loads
from nccli.entropy.laplace import (
    LOG_SCALE_LOW,
    MEAN_STEPS,
    SCALES,
    laplace_table,
    rows_and_bases,
    rows_and_bases_in_units,
)
from nccli.errors import InvalidInputError, UsageError
from nccli.media.image import Image
from nccli.models.image import overfit_coding
from nccli.models.image.overfit import Fitting, OverfitModel
from nccli.models.image.overfit_coding import ARM_ACTIVATION_BITS

FAST = {"effort": "40"}


@pytest.fixture(scope="module")
def small() -> np.ndarray:
    from nccli.media import read_image

    return np.ascontiguousarray(read_image(PHOTO.read_bytes()).pixels[120:168, 200:264])


@pytest.fixture(scope="module")
def encoded(small) -> bytes:
    return api.encode(small, "nc-overfit", quality=6, **FAST)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / mse))


def test_round_trip_is_close_and_repeatable(small, encoded):
    decoded, _ = api.decode(encoded)
    assert decoded.shape == small.shape and decoded.dtype == np.uint8
    assert psnr(decoded, small) > 22  # 40 fitting steps
    assert api.encode(small, "nc-overfit", quality=6, **FAST) == encoded  # same seed, same bytes
    assert api.encode(small, "nc-overfit", quality=6, seed=1, **FAST) != encoded


def test_quality_trades_rate_for_fidelity(small, encoded):
    low = api.encode(small, "nc-overfit", quality=1, **FAST)
    assert len(low) < len(encoded)
    assert psnr(api.decode(low)[0], small) < psnr(api.decode(encoded)[0], small)


def test_the_header_carries_shape_steps_and_latent_step(encoded):
    fields = loads(encoded).header.fields
    assert fields["shape"] == [grid_count(48, 64), 16, 16]  # a small image: narrow synthesis
    assert len(fields["exponents"]) == len(overfit_coding.GROUPS)
    assert fields["latent_step"] == quality_latent_step(6) == 2 ** -(1 / 2 + 5 / 3)


def test_grey_images_are_fitted_as_one_channel(small):
    grey = np.repeat(small.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    tinted = grey.copy()
    tinted[0, 0, 2] ^= 1  # one sample off: colour
    data, colour = (api.encode(x, "nc-overfit", quality=6, **FAST) for x in (grey, tinted))
    assert loads(data).header.fields["grey"] is True
    assert "grey" not in loads(colour).header.fields
    assert model_shape(48, 64, grey=True).channels == 1 and model_shape(48, 64).channels == 3
    decoded, _ = api.decode(data)
    assert decoded.shape == grey.shape and (decoded == decoded[:, :, :1]).all()
    assert psnr(decoded, grey) > 22
    losses = [  # bpp + lambda * 255^2 * MSE, as fitting weighs them
        8 * len(x) / grey[..., 0].size
        + quality_lambda(6) * 255**2 * 10 ** (-psnr(api.decode(x)[0], grey) / 10)
        for x in (data, colour)
    ]
    assert losses[0] < 0.95 * losses[1]  # measured: 4.49 against 5.48


def test_small_images_get_a_narrower_synthesis():
    widths = {
        size: model_shape(*size).synthesis_hidden
        for size in [(48, 64), (384, 512), (512, 512), (512, 768)]
    }
    assert widths == {(48, 64): 16, (384, 512): 16, (512, 512): 24, (512, 768): 24}
    assert model_shape(48, 64).grids == grid_count(48, 64)


def test_the_latent_step_halves_every_three_qualities():
    assert [quality_latent_step(q) for q in (1, 4, 7)] == [2**-0.5, 2**-1.5, 2**-2.5]


def _fit(small: np.ndarray) -> tuple[OverfitModel, torch.Tensor]:
    """A model fitted to the image for 40 steps, and the image (channels x H x W)."""
    image = torch.from_numpy(small).permute(2, 0, 1).float() / 255
    model = OverfitModel(48, 64)
    Fitting(model, image, lam=0.004, steps=40).finish()
    return model, image


def _fitted(small: np.ndarray) -> tuple[OverfitModel, overfit_coding.ParameterSteps]:
    """_fit's model with its parameters put on the steps chosen for them."""
    model, image = _fit(small)
    return model, overfit_coding.choose_steps(model, image, 0.004)


def test_latents_decode_identically_whatever_the_threads_and_float_noise(small):
    model, _ = _fitted(small)
    latents = overfit_coding.latent_integers(model)
    data = overfit_coding.encode_latents(latents, model.arm)
    sizes = [tuple(latent.shape[-2:]) for latent in latents]
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = overfit_coding.decode_latents(data, sizes, model.arm)
    finally:
        torch.set_num_threads(threads)
    perturbed = OverfitModel(48, 64)
    perturbed.load_state_dict(model.state_dict())
    with torch.no_grad():  # float noise far below the exact path's weight grid
        for parameter in perturbed.arm.parameters():
            parameter.mul_(1 + 1e-9 * torch.randn_like(parameter))
    noisy = overfit_coding.decode_latents(data, sizes, perturbed.arm)
    for expected, a, b in zip(latents, single, noisy, strict=True):
        assert torch.equal(a, expected) and torch.equal(b, expected)


def test_all_zero_grids_are_flagged_and_skipped(small):
    model, _ = _fitted(small)
    latents = overfit_coding.latent_integers(model)
    sizes = [tuple(latent.shape[-2:]) for latent in latents]
    latents[0].zero_()
    latents[2].zero_()
    data = overfit_coding.encode_latents(latents, model.arm)
    assert data[0] == sum(1 << i for i, grid in enumerate(latents) if grid.any())
    assert data[0] & 0b101 == 0 and data[0] != 0
    decoded = overfit_coding.decode_latents(data, sizes, model.arm)
    assert all(torch.equal(a, b) for a, b in zip(decoded, latents, strict=True))
    every_grid_coded = overfit_coding.encode_latents(
        overfit_coding.latent_integers(model), model.arm
    )
    assert len(data) < len(every_grid_coded)
    for flags in (bytes([1 << len(latents)]), b""):  # a grid that does not exist; no flags
        with pytest.raises(InvalidInputError, match="damaged"):
            overfit_coding.decode_latents(flags + data[1:], sizes, model.arm)
    with pytest.raises(InvalidInputError, match="format 4"):
        overfit_coding.decode_latents(data, sizes, model.arm, version=4)


def test_grids_that_cost_more_than_they_save_are_dropped(small):
    model, image = _fit(small)
    with torch.no_grad():  # the synthesis stops reading the finest grid, which holds strays
        model.synthesis[0].weight[:, 0] = 0
        model.latents[0].zero_()
        model.latents[0][0, 0, ::7, ::5] = 1.0
    before = overfit_coding.latent_integers(model)
    dropped = overfit_coding.drop_idle_grids(model, image, 0.004)
    assert dropped[0] == 0 and 1 not in dropped  # the strays go, the busiest grid stays
    after = overfit_coding.latent_integers(model)
    for index, (latent, old) in enumerate(zip(after, before, strict=True)):
        assert torch.equal(latent, torch.zeros_like(old) if index in dropped else old)
    assert overfit_coding.drop_idle_grids(model, image, 0.004) == []
    coded = overfit_coding.encode_latents(after, model.arm)
    assert len(coded) < len(overfit_coding.encode_latents(before, model.arm))


def test_the_coarser_arm_grid_runs_in_float32_at_no_cost_in_rate(small, monkeypatch):
    """Latent format 3 (the ARM on 2**-6) against format 2 (2**-12) on the same fit: every
    layer of every pass can take float32, the payload stays within 0.5 % (+4 bytes), and
    each format decodes its own stream."""
    model, _ = _fitted(small)
    latents = overfit_coding.latent_integers(model)
    sizes = [tuple(latent.shape[-2:]) for latent in latents]
    coarse = overfit_coding.encode_latents(latents, model.arm)
    for pass_rows in overfit_coding._exact_passes(model.arm, 3):
        stack = pass_rows.args[0].stack
        assert stack.integer_first.narrow_inputs >= max(float(g.abs().max()) for g in latents)
        assert all(step.narrow is not None for step in (stack.integer_first, *stack.rest))
    monkeypatch.setattr(overfit_coding, "LATENT_FORMAT", 2)
    fine = overfit_coding.encode_latents(latents, model.arm)
    assert len(coarse) <= 1.005 * len(fine) + 4
    for data, version in ((coarse, 3), (fine, 2)):
        decoded = overfit_coding.decode_latents(data, sizes, model.arm, version)
        assert all(torch.equal(a, b) for a, b in zip(decoded, latents, strict=True))


def test_parameters_round_trip_exactly(small):
    model, steps = _fitted(small)
    data = overfit_coding.encode_parameters(model, steps)
    other = OverfitModel(48, 64, seed=9)
    overfit_coding.decode_parameters(data, other, steps)
    for name, parameter in model.named_parameters():
        if not name.startswith("latents"):
            assert torch.equal(parameter, dict(other.named_parameters())[name]), name


def test_rounding_grids_coarsen_the_weights_only_and_leave_the_model_alone(small):
    model, image = _fit(small)
    before = {name: p.clone() for name, p in model.named_parameters()}
    grids = overfit_coding.rounding_grids(model, image, 0.004)
    for name, parameter in model.named_parameters():
        assert torch.equal(parameter, before[name]), name
    chosen = overfit_coding.choose_steps(model, image, 0.004).exponents
    assert grids == (chosen[0] - 1, chosen[1], chosen[2] - 1, chosen[3])  # GROUPS order


def test_the_laplace_table_is_the_same_everywhere():
    table = laplace_table()
    assert table.counts.shape[0] == SCALES * MEAN_STEPS
    raw = table.counts.astype("<i8").tobytes() + table.offsets.astype("<i8").tobytes()
    digest = hashlib.sha256(raw).hexdigest()
    assert digest[:16] == LAPLACE_TABLE_DIGEST


#: Changing the table changes every file's decoding: a new table needs a new codec version.
LAPLACE_TABLE_DIGEST = "54ce875cfa8bc9bb"


def test_rows_come_from_exact_arithmetic():
    mean = torch.tensor([0.0, -1.25, 2.0625, 100.0])
    log_scale = torch.tensor([-9.0, 0.0, 0.0625, 9.0])
    rows, bases = rows_and_bases(mean, log_scale)
    assert bases.tolist() == [0, -2, 2, 100]
    assert (rows % MEAN_STEPS).tolist() == [0, 6, 1, 0]  # -1.25 = -2 + 6/8; 2.0625 -> 2 + 1/8
    assert (rows // MEAN_STEPS).tolist() == [0, 36, 37, SCALES - 1]


@pytest.mark.parametrize("bits", sorted(set(ARM_ACTIVATION_BITS.values())))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rows_from_units_are_the_same_by_integer_shifts(bits, dtype):
    torch.manual_seed(4)
    half, low = 2 ** (bits - 4), int(-LOG_SCALE_LOW * 2**bits)  # half a table step; its end
    edges = [0, half - 1, half, half + 1, 2 * half - 1, 2 * half]
    edges += [low + d for d in (-1, 0, 1, half - 1, half, half + 1)]
    units = torch.cat(
        [
            torch.randint(-(2**24), 2**24, (2, 3000)),
            torch.randint(-20000, 20000, (2, 3000)),
            torch.tensor([edges + [-e for e in edges]] * 2),
        ],
        dim=1,
    ).to(dtype)
    expected = rows_and_bases(*(units.double() / 2**bits))
    got = rows_and_bases_in_units(units, bits)
    assert all(np.array_equal(a, b) for a, b in zip(expected, got, strict=True))
    with pytest.raises(ValueError, match="fractional bits"):
        rows_and_bases_in_units(units, 3)


def test_sparse_latents_code_the_same_through_the_zero_context_shortcut(small, monkeypatch):
    """Where parents are mostly zero the decoder runs the ARM once for all zero contexts:
    the same bitstream and latents as running it on every one."""
    model, _ = _fitted(small)
    torch.manual_seed(5)
    latents = [g * (torch.rand_like(g) < 0.05) for g in overfit_coding.latent_integers(model)]
    sizes = [tuple(latent.shape[-2:]) for latent in latents]
    data = overfit_coding.encode_latents(latents, model.arm)
    decoded = overfit_coding.decode_latents(data, sizes, model.arm)
    monkeypatch.setattr(overfit_coding, "SPARSE_PARENTS", 2.0)  # never look for zero contexts
    assert overfit_coding.encode_latents(latents, model.arm) == data
    dense = overfit_coding.decode_latents(data, sizes, model.arm)
    for expected, a, b in zip(latents, decoded, dense, strict=True):
        assert torch.equal(a, expected) and torch.equal(b, expected)


def test_progress_is_reported(small):
    seen = []
    with reporting(lambda done, status: seen.append((done, status))):
        api.encode(small, "nc-overfit", **FAST)
    assert seen[-1][0] == 1.0 and "bpp" in seen[0][1]
    assert any(status == "refining latents" and done < 1.0 for done, status in seen)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


@pytest.mark.cuda
def test_files_fitted_on_a_gpu_decode_on_the_cpu_like_files_fitted_there(small, monkeypatch):
    measured = {}
    for device in ("cuda", "cpu"):
        monkeypatch.setenv(ENVIRONMENT, device)
        data = api.encode(small, "nc-overfit", quality=6, effort="200")
        monkeypatch.setenv(ENVIRONMENT, "cpu")
        decoded, _ = api.decode(data)
        measured[device] = len(data), psnr(small, decoded)
    (gpu_bytes, gpu_psnr), (cpu_bytes, cpu_psnr) = measured["cuda"], measured["cpu"]
    assert abs(gpu_psnr - cpu_psnr) < 1.0 and abs(gpu_bytes / cpu_bytes - 1) < 0.2


@pytest.mark.cuda
def test_fitting_on_a_gpu_is_deterministic_for_a_seed(small, monkeypatch):
    monkeypatch.setenv(ENVIRONMENT, "cuda")
    first, second = (api.encode(small, "nc-overfit", quality=3, **FAST) for _ in range(2))
    assert first == second


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (5, 70)])
def test_images_smaller_than_the_coarsest_grid(size):
    pixels = np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)
    decoded, _ = api.decode(api.encode(pixels, "nc-overfit", effort="20"))
    assert decoded.shape == pixels.shape


def test_a_single_colour_image_neither_diverges_nor_costs_much():
    flat = np.full((40, 56, 3), (200, 30, 90), dtype=np.uint8)
    data = api.encode(flat, "nc-overfit", effort="80")
    decoded, _ = api.decode(data)
    assert psnr(decoded, flat) > 30
    assert len(data) < 1500


@pytest.mark.parametrize("effort", ["slow", "0", "9", "1000001", "-5", "1.5", ""])
def test_effort_out_of_range_is_a_usage_error(small, effort):
    with pytest.raises(UsageError, match="effort"):
        api.encode(small, "nc-overfit", effort=effort)


def test_named_efforts():
    assert [fitting_steps(name) for name in EFFORTS] == list(EFFORTS.values())
    assert fitting_steps("123") == 123


def test_sixteen_bit_and_alpha_are_refused():
    with pytest.raises(UsageError, match="16-bit"):
        api.encode(Image(np.zeros((8, 8), dtype=np.uint16)), "nc-overfit", **FAST)
    with pytest.raises(UsageError, match="alpha"):
        api.encode(np.zeros((8, 8, 4), dtype=np.uint8), "nc-overfit", **FAST)


def test_damaged_payloads_are_invalid_input(encoded):
    parsed = loads(encoded)
    codec = get_codec("nc-overfit")
    chunks = [chunk.payload for chunk in parsed.chunks if chunk.type == b"DATA"]
    with pytest.raises(InvalidInputError):
        codec.decode(parsed.header, chunks[:1])
    with pytest.raises(InvalidInputError):
        codec.decode(parsed.header, [chunks[0][:3], chunks[1]])
    with pytest.raises(InvalidInputError):
        codec.decode(parsed.header, [chunks[0], chunks[1] + b"\0"])
    for bad in (
        {"shape": [9, 16, 24]},
        {"shape": "x"},
        {"exponents": [1, 2]},
        {"latent_step": 0.0},
        {"latent_step": 2.0},
        {"latent_step": 1},
        {"latent_step": None},
        {"grey": 1},
        {"grey": "yes"},
    ):
        header = dataclasses.replace(parsed.header, fields={**parsed.header.fields, **bad})
        with pytest.raises(InvalidInputError):
            codec.decode(header, chunks)
    with pytest.raises(InvalidInputError, match="version 0"):
        codec.decode(dataclasses.replace(parsed.header, codec_version=0), chunks)
    before_grey = dataclasses.replace(
        parsed.header, codec_version=4, fields={**parsed.header.fields, "grey": True}
    )
    with pytest.raises(InvalidInputError, match="grey"):
        codec.decode(before_grey, chunks)


def test_an_interrupted_encode_leaves_no_file(tmp_path):
    out = tmp_path / "out.ncc"
    process = subprocess.Popen(
        [sys.executable, "-m", "nccli", "encode", str(PHOTO), "-o", str(out),
         "-c", "nc-overfit", "--effort", "100000"],
        stderr=subprocess.PIPE,
    )  # fmt: skip
    time.sleep(6)  # well into fitting, unless the machine is very busy (then still in imports)
    process.send_signal(signal.SIGINT)
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        # Once, in a full run, the encode went on fitting after SIGINT (not reproduced in 65
        # tries): as a user would, press Ctrl-C again, and say so.
        warnings.warn("an nc-overfit encode needed a second SIGINT", stacklevel=1)
        process.send_signal(signal.SIGINT)
        try:
            _, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # never leave it fitting
            process.kill()
            _, stderr = process.communicate()
            pytest.fail(f"the encode went on after two SIGINTs: {stderr[-2000:]!r}")
    assert process.returncode in (130, -signal.SIGINT), stderr
    assert list(tmp_path.iterdir()) == []
