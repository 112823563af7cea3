"""An integer-exact evaluation of small conv stacks, for values an entropy decoder depends on.

A float network gives slightly different last bits on different devices, thread counts or
convolution algorithms; an entropy model fed from it would then pick different table rows on
encoder and decoder. Here every weight and activation is a fixed-point integer, convolutions
run as unfold + matmul in float64 on integers whose products and sums stay below 2**53 (so
every summation order gives the same exact result), and each rescaling is a multiplication by
a power of two followed by rounding. Elementwise steps use single IEEE operations. The result
is identical on every machine (DESIGN.md, Determinism). Stacks of linear layers run a layer in
float32 instead where the bounds of its weights and inputs keep every sum within the
integers float32 holds, which is just as exact.
"""

from __future__ import annotations

import copy
import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
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

T = TypeVar("T")


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
    last dimension), its activations on a grid of 2**-activation_bits."""

    def __init__(self, network: nn.Sequential, activation_bits: int = ACTIVATION_BITS) -> None:
        if not 0 <= activation_bits <= ACTIVATION_LIMIT_BITS:
            raise ValueError(f"{activation_bits} fractional bits are out of range")
        self.bits = activation_bits
        self.layers = [_convert(module, activation_bits) for module in _flatten(network)]
        rowwise = all(layer.kind in ("linear", "relu", "leaky") for layer in self.layers)
        self.stack = _LinearStack.of(self.layers, activation_bits) if rowwise else None

    def with_first_layer(self, weight: torch.Tensor, bias: torch.Tensor) -> ExactSequential:
        """This stack of linear layers with ``weight`` and ``bias`` in its first; the other
        layers are shared, not converted again."""
        first = _Layer("linear", *_fixed_point(weight, bias, out_dim=0, activation_bits=self.bits))
        other = copy.copy(self)
        other.layers = [first, *self.layers[1:]]
        other.stack = self._linear_stack().with_first_layer(first)
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
        2**(ACTIVATION_LIMIT_BITS - activation_bits) in magnitude: nothing to quantize.
        Outputs x rows in activation units (2**-activation_bits; integers, float32)."""
        return self._linear_stack().on_integer_columns(columns, largest)

    def _linear_stack(self) -> _LinearStack:
        if self.stack is None:
            raise TypeError("on_columns evaluates stacks of linear layers only")
        return self.stack

    def _evaluate(self, x: torch.Tensor) -> torch.Tensor:
        scale = float(1 << self.bits)
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


@dataclass(frozen=True)
class _Step:
    """A linear layer and the activation after it, as a _LinearStack runs them.

    ``wide`` is [shift * weight | shift * bias] (float64): shift * (weight @ a + bias) is
    ``wide`` @ [a; 1], and as the shifts are powers of two every product and partial sum is
    still exact. ``narrow`` is the same matrix in float32, None when float32 does not hold it
    or the activation needs float64 (a leaky slope): for inputs up to ``narrow_inputs`` in
    magnitude every product and partial sum of a row is an integer multiple of the row's
    finest binary place of at most FLOAT32_INTEGERS of them, which float32 holds exactly in
    any summation order.
    """

    wide: torch.Tensor
    narrow: torch.Tensor | None
    narrow_inputs: float  # -inf where ``narrow`` is None
    low: float  # the clamp's lower end: 0 for a ReLU
    slope: float | None  # a leaky ReLU's
    gain: float  # the largest sum of a row's weight magnitudes
    offset: float  # the largest bias magnitude

    @staticmethod
    def of(wide: torch.Tensor, low: float, slope: float | None) -> _Step:
        values = wide.numpy()
        weights, bias = np.abs(values[:, :-1]).sum(1), np.abs(values[:, -1])
        gain, offset = float(weights.max()), float(bias.max())
        narrow = wide.to(torch.float32)
        units = np.ldexp(1.0, _finest_places(values))  # per row, in units of its finest place
        if (
            slope is not None
            or not np.array_equal(narrow.numpy(), values)
            or (bias * units).max() > FLOAT32_INTEGERS
        ):
            return _Step(wide, None, -math.inf, low, slope, gain, offset)
        with np.errstate(divide="ignore"):  # rows of zero weights take any input
            room = float(((FLOAT32_INTEGERS - bias * units) / (weights * units)).min())
        return _Step(wide, narrow, room * (1 - 2.0**-40), low, slope, gain, offset)

    def output_bound(self, inputs: float) -> float:
        """A bound on the magnitude of the activations of inputs up to ``inputs``."""
        return min(_LIMIT, self.gain * inputs + self.offset + 1)


def _finest_places(values: np.ndarray) -> np.ndarray:
    """Per row of a float64 matrix, the least e >= 0 such that every entry times 2**e is an
    integer: frexp's exponent and the significand's trailing zeros, read exactly."""
    mantissa, exponent = np.frexp(values)
    significand = np.ldexp(mantissa, 53).astype(np.int64)  # values = significand * 2**(e - 53)
    _, lowest_bit = np.frexp((significand & -significand).astype(np.float64))
    places = np.where(values != 0, 53 - exponent - (lowest_bit - 1), 0)
    return np.maximum(places.max(1), 0)


def cached(owner: nn.Module, name: str, build: Callable[[], T], *sources: nn.Module) -> T:
    """``build()``, kept on ``owner`` under ``name`` while the tensors of ``sources`` stay
    the same: a new value once any of them is changed in place (an optimizer step,
    load_state_dict; not writes through ``.data``, which torch does not count), replaced or
    moved to another device. Built afresh on every call where they are inference tensors
    (made under torch.inference_mode: no version counter).

    For the exact versions of a model's networks: converting their weights took up to a
    third of an exact hyper-synthesis.
    """
    tensors = [
        tensor
        for source in sources
        for tensor in itertools.chain(source.parameters(), source.buffers())
    ]
    if any(tensor.is_inference() for tensor in tensors):  # no version counter to watch
        return build()
    key = tuple((t.data_ptr(), t._version, t.device) for t in tensors)
    memo: dict[str, tuple[tuple, object]] = owner.__dict__.setdefault("_exact_memo", {})
    if name in memo and memo[name][0] == key:
        return memo[name][1]  # type: ignore[return-value]
    value = build()
    memo[name] = (key, value)
    return value


def _float32_sums_are_exact() -> bool:
    """Whether float32 matrix products are IEEE float32 ones: not where the user let torch
    trade precision for speed (bfloat16 or TF32 inside the product)."""
    mkldnn = getattr(torch.backends.mkldnn, "matmul", None)
    return torch.get_float32_matmul_precision() == "highest" and getattr(
        mkldnn, "fp32_precision", "none"
    ) in ("none", "ieee")


class _LinearStack:
    """Linear layers and (leaky) ReLUs on columns (_Step each), ROWS_PER_CHUNK columns at a
    time (their activations stay in the CPU's cache), each layer one matmul and two in-place
    passes. A ReLU after a layer joins its clamp.

    Activations are integers up to the clip, kept in float32 (exact up to 2**24); a layer
    runs in float32 where its step allows the largest input of the chunk, else in float64.
    The first layer's step is made when first used: ``first`` for inputs on the activation
    grid, ``integer_first`` for integer inputs (decoders use only one of them).

    The chunks' buffers live in ``memory``, allocated once and shared by the stacks that
    with_first_layer makes (they run one at a time): fresh buffers per call cost page faults
    whenever the allocator has handed their memory back.
    """

    def __init__(
        self,
        first_matrix: torch.Tensor,
        activation: tuple[float, float | None],
        rest: list[_Step],
        bits: int,
        memory: dict[str, torch.Tensor],
    ) -> None:
        """``first_matrix`` is the first layer's [shift * weight | shift * bias],
        ``activation`` its (low, slope), ``rest`` the steps of the later layers."""
        self.first_matrix, self.activation, self.rest = first_matrix, activation, rest
        self.bits, self.memory = bits, memory

    @staticmethod
    def of(layers: list[_Layer], bits: int) -> _LinearStack:
        """The stack of ``layers`` (Linear, each followed by at most one activation)."""
        matrices: list[torch.Tensor] = []
        activations: list[tuple[float, float | None]] = []
        for layer, before in zip(layers, [None, *layers[:-1]], strict=True):
            if layer.kind == "linear":
                matrices.append(_folded(layer))
                activations.append((-_LIMIT, None))
            elif before is None or before.kind != "linear":
                raise TypeError("an exact linear stack takes one activation after each layer")
            else:
                activations[-1] = (0.0, None) if layer.kind == "relu" else (-_LIMIT, layer.slope)
        rest = [_Step.of(m, *a) for m, a in zip(matrices[1:], activations[1:], strict=True)]
        return _LinearStack(matrices[0], activations[0], rest, bits, {})

    def with_first_layer(self, layer: _Layer) -> _LinearStack:
        """This stack with another first layer (same activation); later steps and buffers
        shared."""
        return _LinearStack(_folded(layer), self.activation, self.rest, self.bits, self.memory)

    @functools.cached_property
    def first(self) -> _Step:
        return _Step.of(self.first_matrix, *self.activation)

    @functools.cached_property
    def integer_first(self) -> _Step:
        """The first step for integer inputs: its weights times 2**bits (exact), same bias."""
        wide = self.first_matrix
        scaled = torch.cat([wide[:, :-1] * (1 << self.bits), wide[:, -1:]], dim=1)
        return _Step.of(scaled, *self.activation)

    def on_columns(self, columns: torch.Tensor) -> torch.Tensor:
        """inputs x rows (float) -> outputs x rows (float64, on the activation grid)."""
        scale = float(1 << self.bits)
        units = torch.round(columns.to(torch.float64) * scale).clamp_(-_LIMIT, _LIMIT)
        largest = float(units.abs().max()) if units.numel() else 0.0
        return self._run(self.first, units.to(torch.float32), largest).double() / scale

    def on_integer_columns(self, columns: torch.Tensor, largest: float) -> torch.Tensor:
        """inputs x rows, float32 integers of at most ``largest`` in magnitude -> outputs x
        rows in activation units (float32 integers)."""
        return self._run(self.integer_first, columns, largest)

    def _run(self, first: _Step, columns: torch.Tensor, largest: float) -> torch.Tensor:
        """The stack with ``first`` as its first step on float32 integer inputs x rows (at
        most ``largest`` in magnitude): outputs x rows in activation units, float32."""
        steps = [first, *self.rest]
        narrow = _float32_sums_are_exact()
        out = torch.empty(len(steps[-1].wide), columns.shape[1])
        buffers: list[torch.Tensor] = []
        for start in range(0, columns.shape[1], ROWS_PER_CHUNK):
            chunk = columns[:, start : start + ROWS_PER_CHUNK]
            if not buffers or buffers[0].shape[1] != chunk.shape[1]:
                buffers = self._buffers(steps, chunk.shape[1])
            buffers[0][:-1].copy_(chunk)
            bound = largest
            for step, following, a, b in zip(
                steps, [*steps[1:], None], buffers[:-1], buffers[1:], strict=True
            ):
                self._apply(step, a, b[:-1], narrow and bound <= step.narrow_inputs)
                bound = step.output_bound(bound)
                if narrow and following is not None and following.narrow_inputs < bound:
                    bound = _magnitude(b[:-1], step.low)  # the values may be well within it
            out[:, start : start + chunk.shape[1]] = buffers[-1][:-1]
        return out

    def _apply(self, step: _Step, a: torch.Tensor, out: torch.Tensor, narrow: bool) -> None:
        """``out`` = the step's activations of inputs ``a`` (its last row ones): the matrix
        product in float32 if ``narrow``, else in float64."""
        if narrow and step.narrow is not None:
            torch.mm(step.narrow, a, out=out)
            out.round_().clamp_(step.low, _LIMIT)
            return
        wide = self._buffer("wide input", *a.shape, dtype=torch.float64).copy_(a)
        acc = self._buffer("wide output", *out.shape, dtype=torch.float64)
        torch.mm(step.wide, wide, out=acc)
        acc.round_().clamp_(step.low, _LIMIT)
        out.copy_(_leaky(acc, step.slope) if step.slope is not None else acc)

    def _buffers(self, steps: list[_Step], width: int) -> list[torch.Tensor]:
        """Per step input and for the output: a (channels + 1) x width buffer, its last row
        ones."""
        heights = [steps[0].wide.shape[1], *(len(step.wide) + 1 for step in steps)]
        buffers = [self._buffer(f"layer {i}", h, width) for i, h in enumerate(heights)]
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


def _folded(layer: _Layer) -> torch.Tensor:
    """[shift * weight | shift * bias] of a linear layer."""
    shift = layer.shift[:, None]
    return torch.cat([layer.weight * shift, layer.bias[:, None] * shift], dim=1)


def _magnitude(a: torch.Tensor, low: float) -> float:
    """The largest magnitude in ``a``; its largest value where it holds no negatives."""
    if low >= 0:
        return float(a.max())
    smallest, largest = torch.aminmax(a)
    return max(-float(smallest), float(largest))


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


def _convert(module: nn.Module, activation_bits: int) -> _Layer:
    if isinstance(module, nn.PixelShuffle):
        return _Layer("shuffle", factor=module.upscale_factor)
    if isinstance(module, nn.ReLU):
        return _Layer("relu")
    if isinstance(module, nn.LeakyReLU):
        return _Layer("leaky", slope=module.negative_slope)
    if isinstance(module, nn.Linear):
        return _Layer("linear", *_fixed_point(module.weight, module.bias, 0, activation_bits))
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        transposed = isinstance(module, nn.ConvTranspose2d)
        weight, bias, shift = _fixed_point(
            module.weight, module.bias, int(transposed), activation_bits
        )
        return _Layer(
            "deconv" if transposed else "conv", weight, bias, shift,
            stride=module.stride[0],
            padding=module.padding[0],
            output_padding=module.output_padding[0] if transposed else 0,
        )  # fmt: skip
    raise TypeError(f"no exact version of {type(module).__name__}")


def _fixed_point(
    weight: torch.Tensor, bias: torch.Tensor | None, out_dim: int, activation_bits: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(integer weights, integer bias at accumulator scale, per-output shift) of a layer whose
    output channels run along ``out_dim`` of its weight, for activations with
    ``activation_bits`` fractional bits."""
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
        torch.round(bias * factor * (1 << activation_bits)),
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
