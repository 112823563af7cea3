"""Audio quality metrics, defined as DAC (descript-audio-codec) and Codec-SUPERB use them.

Signals are frames x channels float arrays in [-1, 1] at one sample rate; each metric is
computed per channel and averaged. docs/evaluation.md states the definitions.
"""

from __future__ import annotations

import functools

import numpy as np

#: DAC's MelSpectrogramLoss: (mel bands, window length) pairs, hop = window / 4.
MEL_SCALES = ((5, 32), (10, 64), (20, 128), (40, 256), (80, 512), (160, 1024), (320, 2048))
#: DAC's MultiScaleSTFTLoss window lengths, hop = window / 4.
STFT_WINDOWS = (2048, 512)
CLAMP = 1e-5


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (zero-mean, optimal scaling)."""
    ref, est = _pair(reference, estimate)
    ref = ref - ref.mean(axis=0)
    est = est - est.mean(axis=0)
    values = []
    for r, e in zip(ref.T, est.T, strict=True):
        energy = float(np.dot(r, r))
        if energy == 0:
            continue
        target = np.dot(e, r) / energy * r
        residual = e - target
        values.append(
            10
            * np.log10(max(np.dot(target, target), 1e-20) / max(np.dot(residual, residual), 1e-20))
        )
    return float(np.mean(values)) if values else float("nan")


def mel_distance(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> float:
    """Sum over DAC's seven scales of the mean |log10 mel(ref) - log10 mel(est)| of
    magnitude mel spectrograms (clamped at 1e-5)."""
    ref, est = _pair(reference, estimate)
    total = 0.0
    for bands, window in MEL_SCALES:
        filters = mel_filters(sample_rate, window, bands)
        a = _stft_magnitude(ref, window) @ filters.T
        b = _stft_magnitude(est, window) @ filters.T
        total += float(np.mean(np.abs(_log(a) - _log(b))))
    return total


def stft_distance(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Multi-resolution STFT distance: over windows 2048 and 512, the mean |log10 P(ref) -
    log10 P(est)| of power spectra (clamped magnitudes) plus the mean |M(ref) - M(est)| of
    magnitudes."""
    ref, est = _pair(reference, estimate)
    total = 0.0
    for window in STFT_WINDOWS:
        a, b = _stft_magnitude(ref, window), _stft_magnitude(est, window)
        total += float(np.mean(np.abs(2 * _log(a) - 2 * _log(b))))
        total += float(np.mean(np.abs(a - b)))
    return total


@functools.lru_cache(maxsize=32)
def mel_filters(sample_rate: int, window: int, bands: int) -> np.ndarray:
    """Slaney-style triangular mel filters (librosa's default), bands x (window // 2 + 1)."""
    bins = np.linspace(0, sample_rate / 2, window // 2 + 1)
    edges = _mel_to_hz(np.linspace(0, _hz_to_mel(sample_rate / 2), bands + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    filters = np.maximum(0, np.minimum(rising, falling))
    return filters * (2.0 / (upper - lower))


def _stft_magnitude(signal: np.ndarray, window: int) -> np.ndarray:
    """Magnitudes of a centred, reflect-padded STFT with a periodic Hann window, hop
    window / 4: channels x frames x bins."""
    hop = window // 4
    pad = window // 2
    mode = "reflect" if len(signal) > pad else "constant"
    padded = np.pad(signal, ((pad, pad), (0, 0)), mode=mode)
    count = 1 + (len(padded) - window) // hop
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(window) / window)
    frames = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)[::hop][:count]
    return np.abs(np.fft.rfft(frames * hann, axis=-1)).transpose(1, 0, 2)


def _log(magnitude: np.ndarray) -> np.ndarray:
    return np.log10(np.maximum(magnitude, CLAMP))


def _pair(reference: np.ndarray, estimate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(reference, np.float64)
    est = np.asarray(estimate, np.float64)
    ref, est = (x[:, None] if x.ndim == 1 else x for x in (ref, est))
    if ref.shape != est.shape:
        raise ValueError(f"signals differ in shape: {ref.shape} vs {est.shape}")
    return ref, est


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, np.float64)
    linear = hz * 3 / 200
    log = 15 + np.log(np.maximum(hz, 1e-10) / 1000) / (np.log(6.4) / 27)
    return np.where(hz >= 1000, log, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    linear = mel * 200 / 3
    log = 1000 * np.exp((np.log(6.4) / 27) * (mel - 15))
    return np.where(mel >= 15, log, linear)
