"""Speech metrics at 16 kHz: STOI (pystoi) and wide-band PESQ (pesq, ITU-T P.862.2).

Signals are frames x channels float arrays; both metrics take their mono mix, resampled to
16 kHz with a polyphase filter. They need the optional packages of `pip install
'nccli[speech]'`; without them, and where a signal gives them nothing to measure (silence,
under a quarter of a second), the result is None. Both are meaningful for speech only.
"""

from __future__ import annotations

import importlib.util
import math
import warnings

import numpy as np

SPEECH_RATE = 16000


def available() -> bool:
    """Whether the optional speech-metric packages are installed."""
    return all(importlib.util.find_spec(name) for name in ("pesq", "pystoi", "scipy"))


def stoi(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> float | None:
    """Short-time objective intelligibility (Taal et al. 2011), 0..1."""
    if not available():
        return None
    from pystoi import stoi as pystoi

    ref, est = _speech_pair(reference, estimate, sample_rate)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = pystoi(ref, est, SPEECH_RATE, extended=False)
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        return None
    return float(value)


def pesq_wb(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> float | None:
    """Wide-band PESQ (P.862.2) as a MOS-LQO score, about 1.0..4.64."""
    if not available():
        return None
    import pesq

    ref, est = _speech_pair(reference, estimate, sample_rate)
    if not np.any(ref):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            value = pesq.pesq(SPEECH_RATE, ref, est, "wb")
        except pesq.PesqError:
            return None
    return float(value) if math.isfinite(value) else None


def to_speech_rate(signal: np.ndarray, sample_rate: int) -> np.ndarray:
    """The mono mix of a frames x channels signal, resampled to 16 kHz."""
    return mono_at_rate(signal, sample_rate, SPEECH_RATE)


def mono_at_rate(signal: np.ndarray, sample_rate: int, target_rate: int) -> np.ndarray:
    """The mono mix of a frames x channels signal, resampled to ``target_rate`` by SciPy's
    polyphase filter."""
    from scipy.signal import resample_poly

    mono = np.asarray(signal, np.float64)
    if mono.ndim == 2:
        mono = mono.mean(axis=1)
    if sample_rate == target_rate:
        return mono
    common = math.gcd(target_rate, sample_rate)
    return resample_poly(mono, target_rate // common, sample_rate // common)


def _speech_pair(
    reference: np.ndarray, estimate: np.ndarray, sample_rate: int
) -> tuple[np.ndarray, np.ndarray]:
    if np.shape(reference) != np.shape(estimate):
        raise ValueError(f"signals differ in shape: {np.shape(reference)} vs {np.shape(estimate)}")
    return to_speech_rate(reference, sample_rate), to_speech_rate(estimate, sample_rate)
