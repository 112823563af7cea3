"""Changing the sample rate and channel count of a stream of blocks.

Rates are converted by libswresample (through PyAV), whose filter delay is compensated, so
output frame k lies at the time of input frame k * rate_out / rate_in. Channels: mono from
N channels is their mean, N channels from mono are copies, and other changes between up to
8 channels use libswresample's default matrix between FFmpeg's standard layouts.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from nccli.errors import UsageError

if TYPE_CHECKING:
    import av

#: Most channels that have a standard FFmpeg layout for mixing.
MIX_CHANNELS = 8


class Converter:
    """Converts frames x channels float32 blocks; push() each block, then flush() once."""

    def __init__(self, rate_in: int, channels_in: int, rate_out: int, channels_out: int) -> None:
        self._channels_in, self._channels_out = channels_in, channels_out
        mixed = channels_in != channels_out and 1 not in (channels_in, channels_out)
        if mixed and max(channels_in, channels_out) > MIX_CHANNELS:
            raise UsageError(
                f"cannot mix {channels_in} channels into {channels_out}: only mono, or up to "
                f"{MIX_CHANNELS} channels, can be mixed"
            )
        # Channels resampled together: all at once through one layout, or one by one.
        self._mixer = _resampler(rate_out, channels_out) if mixed else None
        self._lanes = 0
        if not mixed and rate_in != rate_out:
            self._lanes = min(channels_in, channels_out)
            self._resamplers = [_resampler(rate_out, 1) for _ in range(self._lanes)]
        self._rate_in = rate_in

    def push(self, block: np.ndarray) -> np.ndarray:
        return self._convert(block)

    def flush(self) -> np.ndarray:
        return self._convert(None)

    def _convert(self, block: np.ndarray | None) -> np.ndarray:
        if self._mixer is not None:
            return _run(self._mixer, block, self._rate_in, self._channels_out)
        if block is not None and self._channels_out == 1 and self._channels_in > 1:
            block = block.mean(axis=1, keepdims=True, dtype=np.float32)
        if self._lanes:
            lanes = [
                _run(r, None if block is None else block[:, i : i + 1], self._rate_in, 1)
                for i, r in enumerate(self._resamplers)
            ]
            block = np.concatenate(lanes, axis=1)
        elif block is None:
            return np.zeros((0, self._channels_out), np.float32)
        if self._channels_in == 1 and self._channels_out > 1:
            block = np.repeat(block, self._channels_out, axis=1)
        return block


def fit_length(block: np.ndarray, frames: int) -> np.ndarray:
    """Cut or zero-pad a block to exactly ``frames`` frames."""
    if len(block) >= frames:
        return block[:frames]
    pad = np.zeros((frames - len(block), block.shape[1]), np.float32)
    return np.concatenate([block, pad])


def _layout(channels: int) -> str:
    return {1: "mono", 2: "stereo"}.get(channels, f"{channels}c")


def _resampler(rate_out: int, channels_out: int) -> av.AudioResampler:
    """Input rate and layout are taken from each frame."""
    import av  # here, so that importing nccli's API needs no FFmpeg (images never do)

    return av.AudioResampler(format="flt", layout=_layout(channels_out), rate=rate_out)


def _run(
    resampler: av.AudioResampler, block: np.ndarray | None, rate: int, channels: int
) -> np.ndarray:
    import av

    frame = None
    if block is not None:
        if len(block) == 0:
            return np.zeros((0, channels), np.float32)
        packed = np.ascontiguousarray(block, dtype=np.float32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(packed, format="flt", layout=_layout(block.shape[1]))
        frame.sample_rate = rate
        frame.time_base = Fraction(1, rate)
    out = [f.to_ndarray().reshape(-1, channels) for f in resampler.resample(frame)]
    return np.concatenate(out) if out else np.zeros((0, channels), np.float32)
