"""Metrics against independent reference implementations on real photographs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile
import torch
from conftest import FIXTURES, synthetic
from pytorch_msssim import ms_ssim as reference_ms_ssim
from skimage import data as skdata
from skimage.metrics import peak_signal_noise_ratio

import nccli
from nccli.metrics import audio as audio_metrics
from nccli.metrics import ms_ssim, psnr, psnr_y, speech, visqol
from nccli.metrics.image import min_ms_ssim_side

TOLERANCE = 1e-4
SPEECH = FIXTURES / "audio" / "speech.flac"


def photographs(photo: np.ndarray) -> list[np.ndarray]:
    """scikit-image's bundled photographs (odd and even sizes) and the wallpaper crop."""
    return [skdata.astronaut(), skdata.coffee(), skdata.chelsea(), photo]


def distorted(image: np.ndarray, quality: int) -> np.ndarray:
    return nccli.decode(nccli.encode(image, "jpeg", quality=quality))[0]


@pytest.mark.parametrize("quality", [10, 60])
def test_psnr_matches_scikit_image(photo, quality):
    for image in photographs(photo):
        decoded = distorted(image, quality)
        expected = peak_signal_noise_ratio(image, decoded, data_range=255)
        assert abs(psnr(image, decoded) - expected) < TOLERANCE


@pytest.mark.parametrize("quality", [10, 60])
def test_ms_ssim_matches_pytorch_msssim(photo, quality):
    for image in photographs(photo):
        decoded = distorted(image, quality)
        as_tensor = [
            torch.from_numpy(np.array(x)).permute(2, 0, 1)[None].double() for x in (image, decoded)
        ]
        expected = reference_ms_ssim(*as_tensor, data_range=255).item()
        assert abs(ms_ssim(image, decoded) - expected) < TOLERANCE


def test_psnr_y_is_psnr_of_bt601_luma(photo):
    decoded = distorted(photo, 30)
    weights = np.array([0.299, 0.587, 0.114])
    y_ref, y_dec = photo @ weights, decoded @ weights
    expected = 10 * math.log10(255**2 / np.mean((y_ref - y_dec) ** 2))
    assert abs(psnr_y(photo, decoded) - expected) < 1e-9


def test_identical_images():
    image = synthetic(200, 200, 3)
    assert psnr(image, image) == math.inf
    assert psnr_y(image, image) == math.inf
    assert ms_ssim(image, image) == pytest.approx(1.0)


def test_grayscale_and_alpha():
    grey, noisy = synthetic(200, 180, 1), synthetic(200, 180, 1, seed=1)
    assert psnr_y(grey, noisy) == psnr(grey, noisy)
    rgba = synthetic(200, 180, 4)
    other = rgba.copy()
    other[:, :, 3] = 0  # alpha is not part of the metrics
    assert psnr(rgba, other) == math.inf


def test_sixteen_bit_is_compared_on_the_8_bit_scale():
    a = synthetic(40, 40, 3, "uint16")
    b = a.copy()
    b[0, 0, 0] += 257
    expected = 10 * math.log10(255**2 / (1 / a.size))
    assert psnr(a, b) == pytest.approx(expected)


def test_ms_ssim_needs_five_scales():
    side = min_ms_ssim_side()
    assert side == 161
    small = synthetic(side - 1, 300, 3)
    assert ms_ssim(small, small) is None
    assert ms_ssim(synthetic(side, side, 3), synthetic(side, side, 3)) is not None


def test_shapes_must_match():
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(synthetic(4, 4, 3), synthetic(4, 5, 3))


# --- audio -----------------------------------------------------------------------------


def _tone(seconds: float = 1.0, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.4 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 1250 * t))[:, None]


def test_si_sdr_is_scale_invariant_and_matches_the_noise_level():
    reference = np.repeat(_tone(), 2, axis=1)
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(reference.shape)
    noise *= np.sqrt(np.mean(reference**2) / np.mean(noise**2)) * 10 ** (-20 / 20)
    measured = audio_metrics.si_sdr(reference, reference + noise)
    assert abs(measured - 20) < 0.2
    assert abs(audio_metrics.si_sdr(reference, 0.3 * (reference + noise)) - measured) < 1e-9
    assert audio_metrics.si_sdr(reference, reference) > 150


def test_spectral_distances_are_zero_for_identical_and_grow_with_noise():
    reference = _tone()
    rng = np.random.default_rng(1)
    quiet = reference + 0.001 * rng.standard_normal(reference.shape)
    loud = reference + 0.05 * rng.standard_normal(reference.shape)
    for metric in (
        lambda a, b: audio_metrics.mel_distance(a, b, 16000),
        audio_metrics.stft_distance,
    ):
        assert metric(reference, reference) == 0
        assert 0 < metric(reference, quiet) < metric(reference, loud)


def test_mel_filters_follow_the_slaney_definition():
    filters = audio_metrics.mel_filters(16000, 512, 40)
    assert filters.shape == (40, 257)
    peaks = filters.argmax(axis=1)
    assert np.all(np.diff(peaks) >= 0)
    # Slaney norm: each triangle has unit area in Hz, 2 / (upper - lower) high.
    area = filters.sum(axis=1) * (8000 / 256)
    assert np.allclose(area[5:], 1.0, rtol=0.05)


def test_speech_metrics_on_a_recording():
    reference = soundfile.read(SPEECH)[0]
    noise = np.random.default_rng(0).standard_normal(len(reference))
    scale = np.sqrt(np.mean(reference**2) / np.mean(noise**2))
    scores = []
    for snr_db in (30, 10, 0):
        degraded = reference + noise * scale * 10 ** (-snr_db / 20)
        scores.append(
            (speech.pesq_wb(reference, degraded, 16000), speech.stoi(reference, degraded, 16000))
        )
    assert speech.pesq_wb(reference, reference, 16000) == pytest.approx(4.64, abs=0.01)
    assert speech.stoi(reference, reference, 16000) == pytest.approx(1)
    pesqs, stois = zip(*scores, strict=True)
    assert 4.6 > pesqs[0] > pesqs[1] > pesqs[2] >= 1 and 1 > stois[0] > stois[1] > stois[2] > 0


def test_speech_metrics_mix_to_mono_and_resample_to_16_khz():
    rate = 48000
    t = np.arange(rate) / rate
    tone = np.sin(2 * np.pi * 1000 * t)
    converted = speech.to_speech_rate(np.stack([tone, tone], 1), rate)
    assert len(converted) == 16000
    assert np.argmax(np.abs(np.fft.rfft(converted))) == 1000  # 1 Hz bins
    assert not np.any(speech.to_speech_rate(np.stack([tone, -tone], 1), rate))
    reference = soundfile.read(SPEECH)[0]
    upsampled = np.repeat(reference, 3)[:, None]  # a 48 kHz version with the same speech
    assert speech.pesq_wb(upsampled, upsampled, rate) == pytest.approx(4.64, abs=0.01)


def test_speech_metrics_say_none_where_undefined(monkeypatch):
    silence, blip = np.zeros(32000), np.random.default_rng(1).standard_normal(1600)
    assert speech.pesq_wb(silence, silence, 16000) is None
    assert speech.pesq_wb(blip, blip, 16000) is None and speech.stoi(blip, blip, 16000) is None
    with pytest.raises(ValueError, match="differ in shape"):
        speech.stoi(np.zeros(100), np.zeros(99), 16000)
    reference = soundfile.read(SPEECH)[0]
    monkeypatch.setattr(speech, "available", lambda: False)
    assert speech.pesq_wb(reference, reference, 16000) is None
    assert speech.stoi(reference, reference, 16000) is None


def test_visqol_ranks_noise_and_says_none_where_undefined(monkeypatch):
    reference = soundfile.read(SPEECH)[0]
    noise = np.random.default_rng(2).standard_normal(len(reference))
    scores = [
        visqol.visqol(reference, reference + level * noise, 16000) for level in (0, 1e-3, 1e-2)
    ]
    assert scores[0] == pytest.approx(4.73, abs=0.02) and scores[0] > scores[1] > scores[2] > 1
    assert visqol.visqol(np.zeros(48000), np.zeros(48000), 48000) is None
    blip = np.random.default_rng(1).standard_normal(800)
    assert visqol.visqol(blip, blip, 16000) is None
    with pytest.raises(ValueError, match="differ in shape"):
        visqol.visqol(reference, reference[1:], 16000)
    monkeypatch.setattr(visqol, "available", lambda: False)
    assert visqol.visqol(reference, reference, 16000) is None
