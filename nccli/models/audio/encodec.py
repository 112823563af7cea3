"""The EnCodec model family: a SEANet autoencoder around a residual vector quantiser.

Two published configurations: 24 kHz mono, causal, coding a stream as one piece; and 48 kHz
stereo, non-causal with group norms, coding one-second segments (1% overlap, cross-faded on
decoding), each divided by the RMS of its mono mix first. The number of codebooks sets the
bitrate: each adds log2(bins) bits per frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from nccli.models.audio.rvq import ResidualVQ
from nccli.models.audio.seanet import SeanetShape, seanet_decoder, seanet_encoder

#: Added to each segment's RMS before dividing by it.
SCALE_EPSILON = 1e-8


@dataclass(frozen=True)
class EncodecSpec:
    """The hyper-parameters of one EnCodec configuration."""

    sample_rate: int
    channels: int
    causal: bool
    #: Bitrates in kbit/s the model was trained for, lowest first.
    bandwidths: tuple[float, ...]
    #: Seconds per independently coded segment (None: the whole stream is one).
    segment: float | None
    #: Segments are divided by their RMS before coding (and the scale is transmitted).
    normalize: bool
    overlap: float = 0.01
    ratios: tuple[int, ...] = (8, 5, 4, 2)
    dimension: int = 128
    filters: int = 32
    bins: int = 1024

    @property
    def hop(self) -> int:
        """Samples per frame of codes."""
        return math.prod(self.ratios)

    @property
    def frame_rate(self) -> int:
        return math.ceil(self.sample_rate / self.hop)

    @property
    def kbps_per_codebook(self) -> float:
        return math.log2(self.bins) * self.frame_rate / 1000

    @property
    def codebooks(self) -> int:
        """Codebooks in the quantiser: enough for the highest bandwidth."""
        return int(1000 * self.bandwidths[-1] // (self.frame_rate * math.log2(self.bins)))

    @property
    def segment_length(self) -> int | None:
        return None if self.segment is None else int(self.segment * self.sample_rate)

    @property
    def segment_stride(self) -> int | None:
        length = self.segment_length
        return None if length is None else max(1, int((1 - self.overlap) * length))

    def codebooks_for(self, kbps: float) -> int:
        """Codebooks used at ``kbps`` (rounded down to whole codebooks, at least one)."""
        return max(1, min(self.codebooks, math.floor(kbps / self.kbps_per_codebook)))


SPECS = {
    "encodec-24khz": EncodecSpec(24_000, 1, True, (1.5, 3.0, 6.0, 12.0, 24.0), None, False),
    "encodec-48khz": EncodecSpec(48_000, 2, False, (3.0, 6.0, 12.0, 24.0), 1.0, True),
}

#: One segment's codes (codebooks, B, frames) and its scale (B, 1), or None unnormalised.
Frame = tuple[torch.Tensor, torch.Tensor | None]


class Encodec(nn.Module):
    """Audio (B, channels, T) to codes per segment and back."""

    def __init__(self, spec: EncodecSpec) -> None:
        super().__init__()
        self.spec = spec
        shape = SeanetShape(
            spec.channels, spec.dimension, spec.filters, spec.ratios, spec.causal, not spec.causal
        )
        self.encoder = seanet_encoder(shape)
        self.decoder = seanet_decoder(shape)
        self.quantizer = ResidualVQ(spec.codebooks, spec.bins, spec.dimension)

    def encode_segment(self, x: torch.Tensor, codebooks: int) -> Frame:
        scale = None
        if self.spec.normalize:
            rms = x.mean(dim=1, keepdim=True).pow(2).mean(dim=2, keepdim=True).sqrt()
            scale = SCALE_EPSILON + rms
            x = x / scale
            scale = scale.view(-1, 1)
        return self.quantizer.encode(self.encoder(x), codebooks), scale

    def decode_segment(self, codes: torch.Tensor, scale: torch.Tensor | None) -> torch.Tensor:
        audio = self.decoder(self.quantizer.decode(codes))
        return audio if scale is None else audio * scale.view(-1, 1, 1)

    def encode(self, x: torch.Tensor, codebooks: int) -> list[Frame]:
        """The whole signal's codes, one frame per segment."""
        length, stride = self.spec.segment_length, self.spec.segment_stride
        if length is None or stride is None:
            return [self.encode_segment(x, codebooks)]
        return [
            self.encode_segment(x[..., start : start + length], codebooks)
            for start in range(0, x.shape[-1], stride)
        ]

    def decode(self, frames: list[Frame]) -> torch.Tensor:
        """Audio of the segments' codes, cross-faded; a little longer than the input was."""
        stride = self.spec.segment_stride
        if stride is None:
            return self.decode_segment(*frames[0])
        fade = CrossFade(stride)
        parts = [fade.push(self.decode_segment(*frame)) for frame in frames]
        last = fade.flush()
        return torch.cat(parts if last is None else [*parts, last], dim=-1)


class CrossFade:
    """Overlap-add of segments ``stride`` apart with triangular weights (EnCodec's linear
    cross-fade), giving out each stretch of samples once no later segment can reach it."""

    def __init__(self, stride: int) -> None:
        self.stride = stride
        self.weight: torch.Tensor | None = None
        self.sum: torch.Tensor | None = None
        self.weights: torch.Tensor | None = None
        self.last = 0

    def push(self, segment: torch.Tensor) -> torch.Tensor:
        """Samples made final by the arrival of ``segment``: those before it starts."""
        length = segment.shape[-1]
        if self.weight is None:
            t = torch.linspace(0, 1, length + 2, device=segment.device, dtype=segment.dtype)
            self.weight = 0.5 - (t[1:-1] - 0.5).abs()
        weight = self.weight[:length]
        if self.sum is None or self.weights is None:
            self.sum, self.weights = segment * weight, weight.clone()
            self.last = length
            return segment[..., :0]
        ready = self.sum[..., : self.stride] / self.weights[: self.stride]
        rest, rest_weights = self.sum[..., self.stride :], self.weights[self.stride :]
        span = max(rest.shape[-1], length)
        self.sum = torch.nn.functional.pad(rest, (0, span - rest.shape[-1]))
        self.weights = torch.nn.functional.pad(rest_weights, (0, span - rest.shape[-1]))
        self.sum[..., :length] += segment * weight
        self.weights[:length] += weight
        self.last = length
        return ready

    def flush(self) -> torch.Tensor | None:
        """The samples up to the end of the last segment (None if none came)."""
        if self.sum is None or self.weights is None:
            return None
        return self.sum[..., : self.last] / self.weights[: self.last]
