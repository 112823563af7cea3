"""Running a causal SEANet chunk by chunk with the same result as on the whole signal.

``stream(module)`` gives an object with ``push(x) -> y`` and ``flush() -> y`` on
(batch, channels, time) tensors. Each layer keeps what it still needs of the past: a
convolution its unconsumed window and the last samples for the end's reflection padding, a
transposed convolution its overlap, the LSTM its state. Outputs equal the whole-signal
forward pass up to float rounding, whatever the chunk sizes.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from nccli.models.audio.seanet import LSTMSkip, PaddedConv1d, PaddedConvTranspose1d, ResidualBlock


class Stream(Protocol):
    def push(self, x: torch.Tensor) -> torch.Tensor: ...

    def flush(self) -> torch.Tensor | None: ...


def stream(module: nn.Module) -> Stream:
    """A fresh stream through a causal module."""
    if isinstance(module, nn.Sequential):
        return SequentialStream(module)
    if isinstance(module, PaddedConv1d):
        return ConvStream(module)
    if isinstance(module, PaddedConvTranspose1d):
        return ConvTransposeStream(module)
    if isinstance(module, ResidualBlock):
        return ResidualStream(module)
    if isinstance(module, LSTMSkip):
        return LSTMStream(module)
    if isinstance(module, nn.ELU):
        return PointwiseStream(module)
    raise TypeError(f"{type(module).__name__} cannot run as a stream")


def _empty_like(x: torch.Tensor, channels: int) -> torch.Tensor:
    return x.new_zeros(x.shape[0], channels, 0)


class PointwiseStream:
    def __init__(self, module: nn.Module) -> None:
        self.module = module

    def push(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)

    def flush(self) -> None:
        return None


class SequentialStream:
    def __init__(self, module: nn.Sequential) -> None:
        self.layers = [stream(layer) for layer in module]

    def push(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer.push(x)
        return x

    def flush(self) -> torch.Tensor | None:
        """What is left, each layer's remainder pushed through the layers after it."""
        x = None
        for layer in self.layers:
            parts = [layer.push(x)] if x is not None else []
            rest = layer.flush()
            if rest is not None:
                parts.append(rest)
            x = torch.cat(parts, dim=-1) if parts else None
        return x


class ConvStream:
    """A causal PaddedConv1d: reflection on the left once more input than the padding has
    arrived, windows computed as they fill, the end's padding added on flush."""

    def __init__(self, module: PaddedConv1d) -> None:
        if not module.causal:
            raise TypeError("only causal convolutions can run as a stream")
        self.module = module
        self.kernel = (module.conv.kernel_size[0] - 1) * module.conv.dilation[0] + 1
        self.stride = module.conv.stride[0]
        self.pending: torch.Tensor | None = None  # input before the left padding is possible
        self.window: torch.Tensor | None = None  # padded input not yet consumed
        self.tail: torch.Tensor | None = None  # last samples, for the end's reflection
        self.length = 0

    def push(self, x: torch.Tensor) -> torch.Tensor:
        self.length += x.shape[-1]
        self.tail = x if self.tail is None else torch.cat([self.tail, x], dim=-1)
        self.tail = self.tail[..., -(self.stride + 1) :]
        padding = self.module.padding
        if self.window is None:
            self.pending = x if self.pending is None else torch.cat([self.pending, x], dim=-1)
            if self.pending.shape[-1] <= padding:
                return _empty_like(x, self.module.conv.out_channels)
            self.window = F.pad(self.pending, (padding, 0), mode="reflect")
            self.pending = None
        else:
            self.window = torch.cat([self.window, x], dim=-1)
        return self._windows()

    def flush(self) -> torch.Tensor | None:
        if self.window is None:  # never more input than the padding: do it all at once
            if self.pending is None or self.pending.shape[-1] == 0:
                return None
            return self.module(self.pending)
        extra = self.module.extra_padding(self.length)
        if extra:
            reflected = self.tail[..., -(extra + 1) : -1].flip(-1)
            self.window = torch.cat([self.window, reflected], dim=-1)
        return self._windows()

    def _windows(self) -> torch.Tensor:
        count = (self.window.shape[-1] - self.kernel) // self.stride + 1
        if count <= 0:
            return _empty_like(self.window, self.module.conv.out_channels)
        used = (count - 1) * self.stride + self.kernel
        y = self.module.apply(self.window[..., :used])
        self.window = self.window[..., count * self.stride :]
        return y


class ConvTransposeStream:
    """A causal PaddedConvTranspose1d: each chunk's overhang is added to the next chunk."""

    def __init__(self, module: PaddedConvTranspose1d) -> None:
        if not module.causal or module.norm is not None:
            raise TypeError("only causal, unnormalised transposed convolutions can stream")
        self.module = module
        self.overlap: torch.Tensor | None = None

    def push(self, x: torch.Tensor) -> torch.Tensor:
        conv = self.module.conv
        if x.shape[-1] == 0:
            return _empty_like(x, conv.out_channels)
        y = F.conv_transpose1d(x, conv.weight, None, conv.stride)
        if self.overlap is not None:
            y[..., : self.overlap.shape[-1]] += self.overlap
        done = x.shape[-1] * conv.stride[0]
        self.overlap = y[..., done:]
        return y[..., :done] + conv.bias[:, None]

    def flush(self) -> None:
        return None  # the last overhang is trimmed


class LSTMStream:
    def __init__(self, module: LSTMSkip) -> None:
        self.module = module
        self.state: tuple[torch.Tensor, torch.Tensor] | None = None

    def push(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] == 0:
            return x
        steps = x.permute(2, 0, 1)
        y, self.state = self.module.lstm(steps, self.state)
        return (y + steps).permute(1, 2, 0)

    def flush(self) -> None:
        return None


class ResidualStream:
    """Shortcut and block branch, added once both have produced the same samples."""

    def __init__(self, module: ResidualBlock) -> None:
        self.shortcut = ConvStream(module.shortcut)
        self.block = SequentialStream(module.block)
        self.waiting: torch.Tensor | None = None

    def push(self, x: torch.Tensor) -> torch.Tensor:
        return self._add(self.shortcut.push(x), self.block.push(x))

    def flush(self) -> torch.Tensor | None:
        skip, branch = self.shortcut.flush(), self.block.flush()
        if branch is None:
            return skip
        return self._add(skip if skip is not None else branch[..., :0], branch)

    def _add(self, skip: torch.Tensor, branch: torch.Tensor) -> torch.Tensor:
        if self.waiting is not None:
            skip = torch.cat([self.waiting, skip], dim=-1)
        ready = branch.shape[-1]
        self.waiting = skip[..., ready:]
        return skip[..., :ready] + branch
