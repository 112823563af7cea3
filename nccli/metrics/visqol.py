"""ViSQOL v3 in audio mode: a MOS-LQO score (about 1..4.75) of general audio at 48 kHz.

Computed by `visqol-python` (a pure-Python port of Google's ViSQOL with its bundled SVR
model; `pip install 'nccli[visqol]'`) on the mono mix of each signal, resampled to 48 kHz.
It takes about as long as the audio lasts, so `nccli eval` computes it only on request.
"""

from __future__ import annotations

import functools
import importlib.util
import logging

import numpy as np

from nccli.metrics.speech import mono_at_rate

VISQOL_RATE = 48000


def available() -> bool:
    """Whether the optional visqol-python package is installed."""
    return all(importlib.util.find_spec(name) for name in ("visqol", "scipy"))


def visqol(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> float | None:
    """ViSQOL v3 audio-mode MOS-LQO; None without the package, for silence, and for
    signals too short to measure."""
    if not available():
        return None
    if np.shape(reference) != np.shape(estimate):
        raise ValueError(f"signals differ in shape: {np.shape(reference)} vs {np.shape(estimate)}")
    ref = mono_at_rate(reference, sample_rate, VISQOL_RATE)
    est = mono_at_rate(estimate, sample_rate, VISQOL_RATE)
    if not np.any(ref):
        return None
    try:
        return float(_api().measure_from_arrays(ref, est, VISQOL_RATE).moslqo)
    except ValueError:  # under about 0.1 s: too short for its spectrogram
        return None


@functools.cache
def _api():
    from visqol.api import VisqolApi

    logging.getLogger("visqol").setLevel(logging.ERROR)
    api = VisqolApi()
    api.create(mode="audio")
    return api
