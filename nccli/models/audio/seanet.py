"""SEANet encoder and decoder as EnCodec builds them: padded 1-D convolutions, residual
blocks, a two-layer LSTM and ELUs.

Module positions and parameter names follow EnCodec's so that its checkpoints load after a
key mapping (nccli/zoo/encodec.py folds its weight normalisation into plain weights).
Causal models also run as streams, chunk by chunk, through nccli.models.audio.streaming.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class SeanetShape:
    """What sizes a SEANet: audio channels, embedding dimension, base width, the decoder's
    upsampling ratios (the encoder downsamples by them in reverse), and its padding and
    normalisation (causal convolutions, or group norms after each convolution)."""

    channels: int
    dimension: int
    filters: int
    ratios: tuple[int, ...]
    causal: bool
    group_norm: bool


def reflect_pad(x: torch.Tensor, left: int, right: int) -> torch.Tensor:
    """Reflection padding that also works on signals no longer than the padding: they are
    first extended with zeros, as EnCodec does."""
    length = x.shape[-1]
    widest = max(left, right)
    extension = widest - length + 1 if length <= widest else 0
    if extension:
        x = F.pad(x, (0, extension))
    padded = F.pad(x, (left, right), mode="reflect")
    return padded[..., : padded.shape[-1] - extension]


class PaddedConv1d(nn.Module):
    """A Conv1d padded by reflection, all on the left when causal and split otherwise, plus
    right padding so that the last window is full; optionally followed by a GroupNorm."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        dilation: int = 1,
        causal: bool = False,
        group_norm: bool = False,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, stride, dilation=dilation)
        self.norm = nn.GroupNorm(1, out_channels) if group_norm else None
        self.causal = causal
        self.padding = (kernel_size - 1) * dilation - (stride - 1)

    def extra_padding(self, length: int) -> int:
        """Right padding that makes a signal of ``length`` fill its last window."""
        kernel, stride = self.conv.kernel_size[0], self.conv.stride[0]
        frames = (length - kernel + self.padding) / stride + 1
        return (math.ceil(frames) - 1) * stride + kernel - self.padding - length

    def apply(self, padded: torch.Tensor) -> torch.Tensor:
        """The convolution (and norm) of an already padded signal."""
        y = self.conv(padded)
        return y if self.norm is None else self.norm(y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        extra = self.extra_padding(x.shape[-1])
        right = 0 if self.causal else self.padding // 2
        return self.apply(reflect_pad(x, self.padding - right, right + extra))


class PaddedConvTranspose1d(nn.Module):
    """A ConvTranspose1d upsampling by exactly its stride: the kernel's overhang is trimmed
    on the right when causal and split otherwise."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        causal: bool = False,
        group_norm: bool = False,
    ) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose1d(in_channels, out_channels, kernel_size, stride)
        self.norm = nn.GroupNorm(1, out_channels) if group_norm else None
        self.causal = causal
        self.overhang = kernel_size - stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if self.norm is not None:
            y = self.norm(y)
        right = self.overhang if self.causal else self.overhang // 2
        return y[..., self.overhang - right : y.shape[-1] - right]


class LSTMSkip(nn.Module):
    """A multi-layer LSTM over time with a residual connection, on (batch, channels, time)."""

    def __init__(self, dimension: int, layers: int = 2) -> None:
        super().__init__()
        self.lstm = nn.LSTM(dimension, dimension, layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps = x.permute(2, 0, 1)
        y, _ = self.lstm(steps)
        return (y + steps).permute(1, 2, 0)


class ResidualBlock(nn.Module):
    """ELU, dilated conv to half width, ELU, 1x1 conv back; plus a 1x1-conv shortcut."""

    def __init__(self, dim: int, dilation: int, causal: bool, group_norm: bool) -> None:
        super().__init__()
        hidden = dim // 2
        self.block = nn.Sequential(
            nn.ELU(),
            PaddedConv1d(dim, hidden, 3, dilation=dilation, causal=causal, group_norm=group_norm),
            nn.ELU(),
            PaddedConv1d(hidden, dim, 1, causal=causal, group_norm=group_norm),
        )
        self.shortcut = PaddedConv1d(dim, dim, 1, causal=causal, group_norm=group_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.block(x)


def seanet_encoder(shape: SeanetShape) -> nn.Sequential:
    """Audio (B, channels, T) to embeddings (B, dimension, ceil(T / prod(ratios)))."""
    options = {"causal": shape.causal, "group_norm": shape.group_norm}
    width = shape.filters
    layers: list[nn.Module] = [PaddedConv1d(shape.channels, width, 7, **options)]
    for ratio in reversed(shape.ratios):
        layers += [
            ResidualBlock(width, 1, **options),
            nn.ELU(),
            PaddedConv1d(width, width * 2, ratio * 2, stride=ratio, **options),
        ]
        width *= 2
    layers += [LSTMSkip(width), nn.ELU(), PaddedConv1d(width, shape.dimension, 7, **options)]
    return nn.Sequential(*layers)


def seanet_decoder(shape: SeanetShape) -> nn.Sequential:
    """Embeddings (B, dimension, T) to audio (B, channels, T * prod(ratios))."""
    options = {"causal": shape.causal, "group_norm": shape.group_norm}
    width = shape.filters * 2 ** len(shape.ratios)
    layers: list[nn.Module] = [PaddedConv1d(shape.dimension, width, 7, **options), LSTMSkip(width)]
    for ratio in shape.ratios:
        layers += [
            nn.ELU(),
            PaddedConvTranspose1d(width, width // 2, ratio * 2, ratio, **options),
            ResidualBlock(width // 2, 1, **options),
        ]
        width //= 2
    layers += [nn.ELU(), PaddedConv1d(width, shape.channels, 7, **options)]
    return nn.Sequential(*layers)
