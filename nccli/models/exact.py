"""An integer-exact evaluation of small conv stacks, for values an entropy decoder depends on.

A float network gives slightly different last bits on different devices, thread counts or
convolution algorithms; an entropy model fed from it would then pick different table rows on
encoder and decoder. Here every weight and activation is a fixed-point integer, convolutions
run as unfold + matmul in float64 on integers whose products and sums stay below 2**53 (so
every summation order gives the same exact result), and each rescaling is a multiplication by
a power of two followed by rounding. Elementwise steps use single IEEE operations. The result
is identical on every machine (DESIGN.md, Determinism).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

#: Fractional bits of activations: a = a_int / 2**ACTIVATION_BITS.
ACTIVATION_BITS = 12
#: Activations are clipped to +-2**ACTIVATION_LIMIT_BITS in integer units.
ACTIVATION_LIMIT_BITS = 24
_LIMIT = float(1 << ACTIVATION_LIMIT_BITS)  # the clip, in integer units
#: Weights are scaled per output channel so that the largest magnitude fits in this many bits.
WEIGHT_BITS = 15
#: Linear stacks run on this many rows at a time: their activations stay in the CPU's cache
#: (decoding nc-overfit's latents took 30 % less time than in one piece).
ROWS_PER_CHUNK = 1 << 13
#: products < 2**(24 + 15) and at most 2**13 of them per output: sums stay below 2**53.
MAX_TERMS = 1 << 13
#: float32 holds every integer up to this magnitude exactly.
FLOAT32_INTEGERS = float(1 << 24)


@dataclass
class _Layer:
    kind: str  # "linear", "conv", "deconv", "relu", "leaky", "shuffle"
    weight: torch.Tensor | None = None  # integer-valued float64
    bias: torch.Tensor | None = None  # integer-valued float64, at accumulator scale
    shift: torch.Tensor | None = None  # per output channel: 2**-weight_bits, exact
    stride: int = 1
    padding: int = 0
    output_padding: int = 0
    slope: float = 0.0
    factor: int = 1


class ExactSequential:
    """Integer-exact version of an nn.Sequential (nested ones too) of Conv2d /
    ConvTranspose2d / (Leaky)ReLU / PixelShuffle, or of Linear / (Leaky)ReLU (channels on the
    last dimension)."""

    def __init__(self, network: nn.Sequential) -> None:
        self.layers = [_convert(module) for module in _flatten(network)]
        rowwise = all(layer.kind in ("linear", "relu", "leaky") for layer in self.layers)
        self.stack = _LinearStack(self.layers) if rowwise else None

    def with_first_layer(self, weight: torch.Tensor, bias: torch.Tensor) -> ExactSequential:
        """This stack of linear layers with ``weight`` and ``bias`` in its first; the other
        layers are shared, not converted again."""
        other = copy.copy(self)
        other.layers = [_Layer("linear", *_fixed_point(weight, bias, out_dim=0))]
        other.layers += self.layers[1:]
        other.stack = _LinearStack(other.layers, self._linear_stack().memory)
        return other

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Evaluate on float input (quantized to the activation grid first); float output."""
        if self.stack is None:
            return self._evaluate(x)
        columns = self.stack.on_columns(x.reshape(-1, x.shape[-1]).T)
        return columns.T.reshape(*x.shape[:-1], -1).to(torch.float32)

    def on_columns(self, columns: torch.Tensor) -> torch.Tensor:
        """A stack of linear layers on inputs x rows (each column one input): outputs x rows,
        float64. The same values as calling it on the rows, without transposing them."""
        return self._linear_stack().on_columns(columns)

    def on_integer_columns(self, columns: torch.Tensor, largest: float) -> torch.Tensor:
        """on_columns for integer inputs (inputs x rows, float32) of at most ``largest`` <=
        2**(ACTIVATION_LIMIT_BITS - ACTIVATION_BITS) in magnitude: nothing to quantize.
        Outputs x rows in activation units (2**-ACTIVATION_BITS; integers, float64)."""
        return self._linear_stack().on_integer_columns(columns, largest)

    def _linear_stack(self) -> _LinearStack:
        if self.stack is None:
            raise TypeError("on_columns evaluates stacks of linear layers only")
        return self.stack

    def _evaluate(self, x: torch.Tensor) -> torch.Tensor:
        scale = float(1 << ACTIVATION_BITS)
        a = torch.round(x.to(torch.float64) * scale).clamp_(-_LIMIT, _LIMIT)
        for layer in self.layers:
            if layer.kind == "relu":
                a = a.clamp_(min=0.0)
            elif layer.kind == "leaky":
                a = _leaky(a, layer.slope)
            elif layer.kind == "shuffle":
                a = F.pixel_shuffle(a, layer.factor)
            else:
                acc = _conv(a, layer).add_(layer.bias[None, :, None, None])
                a = acc.mul_(layer.shift[None, :, None, None]).round_().clamp_(-_LIMIT, _LIMIT)
        return (a / scale).to(torch.float32)


class _LinearStack:
    """Linear layers and (leaky) ReLUs on columns, ROWS_PER_CHUNK columns at a time (their
    activations stay in the CPU's cache), each layer one matmul and two in-place passes.

    A layer's shift and bias are folded into one matrix: shift * (weight @ a + bias) is
    [shift * weight | shift * bias] @ [a; 1], and as the shifts are powers of two every
    product and partial sum is still exact. A ReLU after a layer joins its clamp.

    Small integer inputs go through the first layer's weights in float32 (half the cost) when
    no sum of integer weights times inputs can pass FLOAT32_INTEGERS: such sums (times a
    power of two per row) are exact in any order too; the bias follows in float64.

    The chunks' buffers live in ``memory``, allocated once and shared by the stacks that
    with_first_layer makes (they run one at a time): fresh buffers per call cost page faults
    whenever the allocator has handed their memory back.
    """

    def __init__(self, layers: list[_Layer], memory: dict[str, torch.Tensor] | None = None) -> None:
        self.memory = {} if memory is None else memory
        self.steps: list[tuple[torch.Tensor, float, float | None]] = []  # matrix, low, slope
        for layer, before in zip(layers, [None, *layers[:-1]], strict=True):
            if layer.kind == "linear":
                shift = layer.shift[:, None]
                matrix = torch.cat([layer.weight * shift, layer.bias[:, None] * shift], dim=1)
                self.steps.append((matrix, -_LIMIT, None))
            elif before is None or before.kind != "linear":
                raise TypeError("an exact linear stack takes one activation after each layer")
            elif layer.kind == "relu":
                self.steps[-1] = (self.steps[-1][0], 0.0, None)
            else:
                self.steps[-1] = (self.steps[-1][0], -_LIMIT, layer.slope)
        first = self.steps[0][0]
        # The first matrix for integer inputs: its weights times 2**ACTIVATION_BITS (exact).
        self.integer_first = torch.cat([first[:, :-1] * (1 << ACTIVATION_BITS), first[:, -1:]], 1)
        # ... in float32 without the bias (each row's weights: < 2**WEIGHT_BITS integers
        # times a power of two), and how far a row's integer weights reach (sum of magnitudes).
        self.narrow_first = self.integer_first[:, :-1].to(torch.float32)
        self.first_reach = float(layers[0].weight.abs().sum(1).max())

    def on_columns(self, columns: torch.Tensor) -> torch.Tensor:
        """inputs x rows (float) -> outputs x rows (float64, on the activation grid)."""
        scale = float(1 << ACTIVATION_BITS)
        rows, first = columns.shape[1], self.steps[0][0]
        out = torch.empty(self.steps[-1][0].shape[0], rows, dtype=torch.float64)
        buffers: list[torch.Tensor] = []
        for start in range(0, rows, ROWS_PER_CHUNK):
            chunk = columns[:, start : start + ROWS_PER_CHUNK]
            if not buffers or buffers[0].shape[1] != chunk.shape[1]:
                buffers = self._buffers(chunk.shape[1])
            buffers[0][:-1].copy_(chunk).mul_(scale).round_().clamp_(-_LIMIT, _LIMIT)
            out[:, start : start + chunk.shape[1]] = self._layers(buffers[0], buffers[1:], first)
        return out / scale

    def on_integer_columns(self, columns: torch.Tensor, largest: float) -> torch.Tensor:
        """inputs x rows, float32 integers of at most ``largest`` in magnitude -> outputs x
        rows in activation units."""
        narrow = self.first_reach * largest <= FLOAT32_INTEGERS
        rows = columns.shape[1]
        out = torch.empty(self.steps[-1][0].shape[0], rows, dtype=torch.float64)
        buffers: list[torch.Tensor] = []
        for start in range(0, rows, ROWS_PER_CHUNK):
            chunk = columns[:, start : start + ROWS_PER_CHUNK]
            if not buffers or buffers[0].shape[1] != chunk.shape[1]:
                buffers = self._buffers(chunk.shape[1])
                products = self._buffer("products", len(self.narrow_first), chunk.shape[1])
            if narrow:
                torch.mm(self.narrow_first, chunk, out=products)
                hidden = buffers[1][:-1].copy_(products).add_(self.integer_first[:, -1:])
                self._activate(hidden, 0)
                last = self._layers(buffers[1], buffers[2:], start=1)
            else:
                buffers[0][:-1].copy_(chunk)
                last = self._layers(buffers[0], buffers[1:], first=self.integer_first)
            out[:, start : start + chunk.shape[1]] = last
        return out

    def _layers(
        self,
        a: torch.Tensor,
        buffers: list[torch.Tensor],
        first: torch.Tensor | None = None,
        start: int = 0,
    ) -> torch.Tensor:
        """The layers from ``start`` on (``first`` as the first one's matrix) on a chunk of
        input columns (their last row ones), each into its buffer: the last one's output."""
        for index, b in enumerate(buffers, start):
            matrix = first if index == 0 and first is not None else self.steps[index][0]
            self._activate(torch.mm(matrix, a, out=b[:-1]), index)
            a = b
        return a[:-1]

    def _activate(self, acc: torch.Tensor, index: int) -> None:
        """Layer ``index``'s sums to its activations, in place: rounded, clipped, leaky."""
        _, low, slope = self.steps[index]
        acc.round_().clamp_(low, _LIMIT)
        if slope is not None:
            _leaky(acc, slope)

    def _buffers(self, rows: int) -> list[torch.Tensor]:
        """Per layer input and for the output: a (width + 1) x rows buffer, its last row ones."""
        widths = [self.steps[0][0].shape[1] - 1, *(m.shape[0] for m, _, _ in self.steps)]
        buffers = [
            self._buffer(f"layer {i}", width + 1, rows, torch.float64)
            for i, width in enumerate(widths)
        ]
        for buffer in buffers:
            buffer[-1] = 1.0
        return buffers

    def _buffer(
        self, name: str, height: int, width: int, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        """A height x width tensor on ``memory``'s block ``name`` (grown when too small)."""
        block = self.memory.get(name)
        if block is None or block.numel() < height * width:
            block = self.memory[name] = torch.empty(
                height * max(width, ROWS_PER_CHUNK), dtype=dtype
            )
        return block[: height * width].view(height, width)


def _leaky(a: torch.Tensor, slope: float) -> torch.Tensor:
    """Leaky ReLU on the activation grid, in place: negative values times slope, rounded."""
    negative = a < 0
    a[negative] = torch.round(a[negative] * slope)
    return a


def _flatten(network: nn.Sequential) -> list[nn.Module]:
    modules: list[nn.Module] = []
    for module in network:
        modules.extend(_flatten(module) if isinstance(module, nn.Sequential) else [module])
    return modules


def _convert(module: nn.Module) -> _Layer:
    if isinstance(module, nn.PixelShuffle):
        return _Layer("shuffle", factor=module.upscale_factor)
    if isinstance(module, nn.ReLU):
        return _Layer("relu")
    if isinstance(module, nn.LeakyReLU):
        return _Layer("leaky", slope=module.negative_slope)
    if isinstance(module, nn.Linear):
        return _Layer("linear", *_fixed_point(module.weight, module.bias, out_dim=0))
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        transposed = isinstance(module, nn.ConvTranspose2d)
        weight, bias, shift = _fixed_point(module.weight, module.bias, out_dim=int(transposed))
        return _Layer(
            "deconv" if transposed else "conv", weight, bias, shift,
            stride=module.stride[0],
            padding=module.padding[0],
            output_padding=module.output_padding[0] if transposed else 0,
        )  # fmt: skip
    raise TypeError(f"no exact version of {type(module).__name__}")


def _fixed_point(
    weight: torch.Tensor, bias: torch.Tensor | None, out_dim: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(integer weights, integer bias at accumulator scale, per-output shift) of a layer whose
    output channels run along ``out_dim`` of its weight."""
    weight = weight.detach().to(torch.float64)
    outputs = weight.shape[out_dim]
    if weight.numel() // outputs > MAX_TERMS:
        raise ValueError(
            f"a layer of weight {tuple(weight.shape)}: {weight.numel() // outputs} terms per "
            "output exceed the exact range"
        )
    bits = _weight_bits(weight.abs().transpose(0, out_dim).reshape(outputs, -1).amax(1))
    factor = torch.ldexp(torch.ones(outputs, dtype=torch.float64), bits)
    view = [1] * weight.dim()
    view[out_dim] = -1
    bias = torch.zeros(outputs, dtype=torch.float64) if bias is None else bias.detach().double()
    return (
        torch.round(weight * factor.reshape(view)),
        torch.round(bias * factor * (1 << ACTIVATION_BITS)),
        torch.ldexp(torch.ones_like(factor), -bits),
    )


def _weight_bits(largest: torch.Tensor) -> torch.Tensor:
    """Per channel, the power of two that brings the largest weight just under 2**WEIGHT_BITS.

    frexp reads the binary exponent exactly (no logarithm whose last bit could vary).
    """
    _, exponent = torch.frexp(torch.clamp(largest, min=2.0**-30))  # largest < 2**exponent
    return (WEIGHT_BITS - exponent).clamp(-30, 60).to(torch.int64)


def _conv(a: torch.Tensor, layer: _Layer) -> torch.Tensor:
    """Sum of integer products as matmuls: unfold + matmul, or matmul + fold (no FFT/Winograd)."""
    if layer.kind == "deconv":
        return _transposed(a, layer)
    weight = layer.weight
    out_channels, _, k, _ = weight.shape
    if k == 1 and layer.stride == 1 and layer.padding == 0:  # a plain matmul over channels
        n, channels, h, w = a.shape
        return (weight.reshape(out_channels, channels) @ a.reshape(n, channels, h * w)).reshape(
            n, out_channels, h, w
        )
    columns = F.unfold(a, k, padding=layer.padding, stride=layer.stride)  # (n, c*k*k, L)
    out = weight.reshape(out_channels, -1) @ columns
    h_out = (a.shape[2] + 2 * layer.padding - k) // layer.stride + 1
    w_out = (a.shape[3] + 2 * layer.padding - k) // layer.stride + 1
    return out.reshape(a.shape[0], out_channels, h_out, w_out)


def _transposed(a: torch.Tensor, layer: _Layer) -> torch.Tensor:
    """Each input pixel scatters its kernel-sized patch (matmul); fold adds the overlaps."""
    n, in_channels, h, w = a.shape
    k = layer.weight.shape[-1]
    s, p = layer.stride, layer.padding
    patches = layer.weight.reshape(in_channels, -1).T @ a.reshape(n, in_channels, h * w)
    full = F.fold(patches, ((h - 1) * s + k, (w - 1) * s + k), k, stride=s)
    h_out = (h - 1) * s - 2 * p + k + layer.output_padding
    w_out = (w - 1) * s - 2 * p + k + layer.output_padding
    return full[:, :, p : p + h_out, p : p + w_out]


def simulate(network: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """A differentiable float stand-in for ``ExactSequential(network)(x)``, for training.

    Weights and activations are put on the same grids as the exact path (per-channel
    WEIGHT_BITS weights, ACTIVATION_BITS fractional bits, the same clipping) with
    straight-through rounding, so a model learns on the values its exact path computes; with
    float accumulation the two agree up to rounding ties.
    """
    scale = float(1 << ACTIVATION_BITS)
    limit = _LIMIT / scale
    a = _on_grid(x, scale, limit)
    for module in _flatten(network):
        if isinstance(module, nn.PixelShuffle):
            a = F.pixel_shuffle(a, module.upscale_factor)
        elif isinstance(module, nn.ReLU):
            a = F.relu(a)
        elif isinstance(module, nn.LeakyReLU):
            a = _on_grid(F.leaky_relu(a, module.negative_slope), scale, limit)
        elif isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            a = _on_grid(_simulated_conv(module, a, scale), scale, limit)
        else:
            raise TypeError(f"no exact version of {type(module).__name__}")
    return a


def _simulated_conv(module: nn.Conv2d | nn.ConvTranspose2d, a: torch.Tensor, scale: float):
    transposed = isinstance(module, nn.ConvTranspose2d)
    weight = module.weight
    out_dim = 1 if transposed else 0
    largest = weight.detach().abs().transpose(0, out_dim).reshape(weight.shape[out_dim], -1)
    factor = torch.ldexp(torch.ones_like(largest[:, 0]), _weight_bits(largest.amax(1)))
    view = (1, -1, 1, 1) if transposed else (-1, 1, 1, 1)
    weight = _round_ste(weight * factor.reshape(view)) / factor.reshape(view)
    bias = _round_ste(module.bias * factor * scale) / (factor * scale)
    if transposed:
        return F.conv_transpose2d(
            a, weight, bias, module.stride, module.padding, module.output_padding
        )
    return F.conv2d(a, weight, bias, module.stride, module.padding)


def _on_grid(x: torch.Tensor, scale: float, limit: float) -> torch.Tensor:
    return torch.clamp(_round_ste(x * scale) / scale, -limit, limit)


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    """Rounding whose gradient is the identity (straight-through)."""
    return x + (torch.round(x) - x).detach()
