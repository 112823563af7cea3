"""Building blocks of learned transforms: strided convolutions and GDN.

Parameter names and layouts follow CompressAI's, so its checkpoints load after a key
mapping (see nccli/zoo).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """``x`` (N, C, H, W) in channels-last memory order, same values: the synthesis
    transforms run on it (oneDNN's transposed convolutions take 20-40 % less time on it on a
    CPU at photo sizes; the analysis transforms gain nothing measurable)."""
    return x.contiguous(memory_format=torch.channels_last)


def conv(in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 2) -> nn.Conv2d:
    """'Same'-padded convolution that downsamples by ``stride``."""
    return nn.Conv2d(
        in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2
    )


def deconv(
    in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 2
) -> nn.ConvTranspose2d:
    """Transposed convolution that upsamples by exactly ``stride``."""
    return nn.ConvTranspose2d(
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        padding=kernel_size // 2,
        output_padding=stride - 1,
    )


class NonNegative(nn.Module):
    """Keeps a parameter at or above a minimum: stored as sqrt(value + pedestal)."""

    def __init__(self, minimum: float = 0.0, reparam_offset: float = 2**-18) -> None:
        super().__init__()
        self.register_buffer("pedestal", torch.tensor([reparam_offset**2]))
        self.bound = float((minimum + reparam_offset**2) ** 0.5)

    def init(self, value: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(torch.clamp(value + self.pedestal, min=self.pedestal))

    def forward(self, stored: torch.Tensor) -> torch.Tensor:
        return torch.clamp(stored, min=self.bound) ** 2 - self.pedestal


class GDN(nn.Module):
    """Generalized divisive normalization (Ballé et al. 2016), or its inverse (IGDN).

    y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2); the inverse multiplies instead.
    """

    def __init__(
        self, channels: int, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1
    ) -> None:
        super().__init__()
        self.inverse = inverse
        self.beta_reparam = NonNegative(minimum=beta_min)
        self.gamma_reparam = NonNegative()
        self.beta = nn.Parameter(self.beta_reparam.init(torch.ones(channels)))
        self.gamma = nn.Parameter(self.gamma_reparam.init(gamma_init * torch.eye(channels)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):  # a square root needs float32
            return self._normalize(x.float())

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        beta = self.beta_reparam(self.beta)
        gamma = self.gamma_reparam(self.gamma).reshape(channels, channels, 1, 1)
        norm = F.conv2d(x * x, gamma, beta)
        return x * (torch.sqrt(norm) if self.inverse else torch.rsqrt(norm))


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)


def subpel_conv3x3(in_channels: int, out_channels: int, factor: int) -> nn.Sequential:
    """Upsampling by sub-pixel convolution: a 3x3 conv to factor**2 times the channels, then
    a pixel shuffle."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels * factor**2, 3, padding=1), nn.PixelShuffle(factor)
    )


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with leaky ReLUs, plus the input (1x1-projected if needed)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, out_channels)
        self.leaky_relu = nn.LeakyReLU(inplace=True)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.leaky_relu(self.conv2(self.leaky_relu(self.conv1(x))))
        return out + (x if self.skip is None else self.skip(x))


class ResidualBlockWithStride(nn.Module):
    """A strided residual block ending in GDN; the shortcut is a strided 1x1 convolution."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 2) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.leaky_relu = nn.LeakyReLU(inplace=True)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.gdn = GDN(out_channels)
        self.skip = nn.Conv2d(in_channels, out_channels, 1, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.gdn(self.conv2(self.leaky_relu(self.conv1(x))))
        return out + self.skip(x)


class ResidualBlockUpsample(nn.Module):
    """An upsampling residual block ending in inverse GDN; the shortcut is sub-pixel."""

    def __init__(self, in_channels: int, out_channels: int, factor: int = 2) -> None:
        super().__init__()
        self.subpel_conv = subpel_conv3x3(in_channels, out_channels, factor)
        self.leaky_relu = nn.LeakyReLU(inplace=True)
        self.conv = conv3x3(out_channels, out_channels)
        self.igdn = GDN(out_channels, inverse=True)
        self.upsample = subpel_conv3x3(in_channels, out_channels, factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.igdn(self.conv(self.leaky_relu(self.subpel_conv(x))))
        return out + self.upsample(x)
