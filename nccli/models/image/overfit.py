"""An image model fitted to one image at encode time (Cool-chic / C3 style): no training data.

The image is represented by latent grids at resolutions 1, 1/2, ..., 1/2**(grids-1) of its
own. They are upsampled to full resolution (bicubic), stacked, multiplied by the LATENT STEP
(the image-space size of a quantization step: smaller steps for higher qualities), and a small
synthesis network of 1x1 and 3x3 convolutions with leaky ReLUs turns them into RGB, or grey (the
grids are upsampled with a border of replicated values, which the 3x3 layer reads).

The entropy model is autoregressive, and built so that a decoder can run it a few large
batches at a time: grids are coded coarsest first, each in four passes over the positions
with (y % 2, x % 2) equal to PASSES[0], PASSES[1], .... A latent's context is its twelve
NEIGHBOURS in its own grid, those of later passes (not yet decoded) set to zero, the five
PARENTS around its position in the next coarser grid, and a one-hot of its pass; an ARM of
linear layers maps it to a Laplace (mean, log-scale). As the hidden neighbours are always
zero and the one-hot is constant within a pass, each pass feeds the ARM only the COLUMNS it
sees (channels-last, h x w x columns) and folds its one-hot into the first layer's bias.
Being a plain layer stack, the ARM runs on nccli.models.exact's integer path when coding.
The synthesis runs channels-last too (the fast layout for few channels on CPU).

Fitting minimises rate + lambda * 255^2 * MSE over the latents and both networks: first with
additive uniform noise in place of quantization, then with straight-through rounding (the
published methods' two phases), where the networks may run on the grids they will be coded
on too (FitOptions.network_grids). Latents move by Adam with an epsilon near the size of their
gradients, so a latent the loss barely cares about stays put instead of drifting a whole
learning-rate step each iteration (which fills the finest grids with costly noise).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from nccli.entropy.laplace import LOG_SCALE_HIGH, LOG_SCALE_LOW

#: The passes over a grid, in coding order: positions whose (y % 2, x % 2) is the entry.
PASSES = ((0, 0), (1, 1), (0, 1), (1, 0))
#: Same-grid neighbours in a context (zero where coded in the same or a later pass).
NEIGHBOURS = (
    (-2, 0), (-1, -1), (-1, 0), (-1, 1), (0, -2), (0, -1),
    (0, 1), (0, 2), (1, -1), (1, 0), (1, 1), (2, 0),
)  # fmt: skip
#: Offsets around the parent (y // 2, x // 2) in the next coarser grid.
PARENTS = ((0, 0), (-1, 0), (0, -1), (0, 1), (1, 0))
#: Inputs of the ARM: neighbours, parents, the pass one-hot (from this index on).
ONE_HOT = len(NEIGHBOURS) + len(PARENTS)
CONTEXT_SIZE = ONE_HOT + len(PASSES)
#: Latents are clipped to this magnitude (the entropy coder's alphabet is bounded).
LATENT_LIMIT = 64
#: The networks' parameter groups in bitstream order, each put on its own grid of 2**-exponent
#: when coded.
GROUPS = ("arm.weight", "arm.bias", "synthesis.weight", "synthesis.bias")
#: Negative slope of the synthesis' leaky ReLUs. A plain ReLU (slope 0, nc-overfit versions 1
#: and 2) lost up to 18 of its 24 second-layer units for good in the first 50 steps of a fit.
SYNTHESIS_SLOPE = 0.01
#: Adam's epsilon for the latents is this over the pixel count (the loss is per pixel, so are
#: the latents' gradients).
LATENT_EPSILON_PIXELS = 30.0
#: Adam's decay rates; the second moment's 0.95 (Adam's usual: 0.999) fitted crops 5-6 % better
#: in 1200 steps (docs/notes/nc-overfit.md).
ADAM_BETAS = (0.9, 0.95)
#: A fit ends with this many straight-through rounding steps (after noisy ones), as a share of
#: its steps kept within ROUNDING_SHARES: measured on crops (docs/notes/nc-overfit.md), 60 of
#: 200 steps (30 %) beat 20, and 96-180 of 1200 (8-15 %) beat 36 and 360.
ROUNDING_STEPS = 60
ROUNDING_SHARES = (0.1, 0.3)
#: The decoder's synthesis (render) runs bands of rows of about this many pixels at a time.
PIXELS_PER_BAND = 1 << 15
#: Grids up to this many positions a side are upsampled by matrix products (the products'
#: cost grows with the side, the bicubic kernel's does not).
MATMUL_GRID_SIDE = 512
#: The decoder upsamples a grid by a whole factor up to this one as that many phases of taps
#: (cost per pixel fixed; each phase a few passes, so large factors go to the products).
MAX_PHASE_FACTOR = 4
#: ... and only grids at least this many positions a side (smaller ones are cheap anyway, and
#: the taps are read from an interior row of the kernel's matrix).
MIN_PHASE_GRID_SIDE = 8


def _visible(number: int) -> tuple[bool, ...]:
    """Which NEIGHBOURS of a position in pass ``number`` are coded in an earlier pass."""
    order = {offset: i for i, offset in enumerate(PASSES)}
    py, px = PASSES[number]
    return tuple(order[(py + dy) % 2, (px + dx) % 2] < number for dy, dx in NEIGHBOURS)


VISIBLE = tuple(_visible(number) for number in range(len(PASSES)))
#: Per pass, the ARM inputs that can be non-zero: the visible neighbours, then the parents.
COLUMNS = tuple(
    (*(i for i, seen in enumerate(visible) if seen), *range(len(NEIGHBOURS), ONE_HOT))
    for visible in VISIBLE
)


@dataclass(frozen=True)
class OverfitShape:
    """An overfitted model's architecture: grid count, ARM and synthesis widths, the
    synthesis' negative slope, its output channels (3: RGB, 1: grey)."""

    grids: int = 7
    arm_hidden: int = 16
    synthesis_hidden: int = 24
    synthesis_slope: float = SYNTHESIS_SLOPE
    channels: int = 3


def grid_sizes(height: int, width: int, grids: int) -> list[tuple[int, int]]:
    """(height, width) of each latent grid of an image, finest first."""
    return [(math.ceil(height / 2**i), math.ceil(width / 2**i)) for i in range(grids)]


class OverfitModel(nn.Module):
    """Latent grids for an H x W image with the ARM and synthesis networks."""

    def __init__(
        self,
        height: int,
        width: int,
        shape: OverfitShape = OverfitShape(),
        seed: int = 0,
        latent_step: float = 1.0,
    ) -> None:
        """Latents start at zero; the networks' initial weights are drawn from ``seed``;
        the synthesis reads the latents times ``latent_step``."""
        super().__init__()
        self.shape = shape
        self.size = (height, width)
        self.latent_step = latent_step
        self.latents = nn.ParameterList(
            nn.Parameter(torch.zeros(1, 1, *size))
            for size in grid_sizes(height, width, shape.grids)
        )
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.arm = _arm(shape.arm_hidden)
            self.synthesis = _synthesis(
                shape.grids, shape.synthesis_hidden, shape.synthesis_slope, shape.channels
            )
        self.synthesis.to(memory_format=torch.channels_last)
        #: Grids held at zero (indices, finest first): they cost no bits and take no steps.
        self.dropped: set[int] = set()

    def forward(
        self, quantize: Callable[[torch.Tensor], torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(the image, channels x H x W in [0, 1] before clamping; the total rate in bits) with the
        latents passed through ``quantize``, the dropped grids as their zeros, at no cost."""
        latents = [
            latent.detach() if index in self.dropped
            else quantize(latent.clamp(-LATENT_LIMIT, LATENT_LIMIT))
            for index, latent in enumerate(self.latents)
        ]  # fmt: skip
        bits = sum(
            grid_bits(latent, coarser, self.arm)
            for index, (latent, coarser) in zip(
                reversed(range(len(latents))), with_coarser(latents), strict=True
            )
            if index not in self.dropped
        )
        return self.synthesize(latents), bits

    def synthesize(self, latents: list[torch.Tensor]) -> torch.Tensor:
        """The image from (quantized) latent grids."""
        upsampled = [upsample(latent, self.size, border=1) for latent in latents]
        stacked = torch.stack(upsampled, dim=-1).permute(2, 0, 1)[None]  # channels-last
        if self.latent_step != 1:
            stacked = stacked * self.latent_step
        return self.synthesis(stacked)[0] + 0.5


def upsample(latent: torch.Tensor, size: tuple[int, int], border: int = 0) -> torch.Tensor:
    """A 1 x 1 x h x w grid at the image's (height, width), bicubic, with ``border`` rows and
    columns replicated around it: height + 2 border x width + 2 border.

    Grids up to MATMUL_GRID_SIDE a side are upsampled as rows @ grid @ columns.T, with the
    bicubic kernel's own weights in the two matrices (the border in them too): the same
    values to float rounding, and on 2 CPU cores a backward pass 2-20x faster than the
    kernel's.
    """
    if latent.shape[-2:] == size:
        grid = latent
    elif max(latent.shape[-2:]) > MATMUL_GRID_SIDE:
        grid = F.interpolate(latent, size=size, mode="bicubic")
    else:
        key = (border, latent.device, latent.dtype)
        rows = _bicubic_matrix(latent.shape[-2], size[0], *key)
        columns = _bicubic_matrix(latent.shape[-1], size[1], *key)
        return rows @ latent[0, 0] @ columns.T
    return F.pad(grid, (border,) * 4, mode="replicate")[0, 0] if border else grid[0, 0]


@functools.lru_cache(maxsize=64)
def _bicubic_matrix(
    length: int, target: int, border: int, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """target + 2 border x length: bicubic upsampling along one axis, taken from the kernel
    itself (each column is the upsampled unit vector), its end rows repeated border times."""
    units = torch.eye(length).reshape(length, 1, length, 1)
    matrix = F.interpolate(units, size=(target, 1), mode="bicubic")[:, 0, :, 0].T
    repeated = torch.arange(-border, target + border).clamp(0, target - 1)
    return matrix[repeated].contiguous().to(device, dtype)


@torch.no_grad()
def render(
    model: OverfitModel, latents: list[torch.Tensor], kept: Sequence[int] | None = None
) -> torch.Tensor:
    """``model.synthesize(latents)`` for decoding, about three times as fast on a CPU: grids that
    are all zero are skipped (or all but ``kept``, which must hold the others), the latent
    step is folded into the first layer, and the layers run channels-first on bands of rows
    of about PIXELS_PER_BAND pixels (their activations stay in cache). The 3x3 layer is one
    matrix product giving every tap's contribution at every pixel of the band and its
    border, then nine shifted sums."""
    height, width = model.size
    first, activation, second, _, last = model.synthesis
    if kept is None:
        kept = [i for i, latent in enumerate(latents) if latent.any()]
    stacked = torch.empty(len(kept), height + 2, width + 2)
    for channel, index in enumerate(kept):
        grid = latents[index][0, 0]
        if not _upsample_by_phases(grid, stacked[channel]):
            _upsample_into(grid, stacked[channel])
    first_weight = first.weight[:, kept, 0, 0] * model.latent_step
    second_weight = second.weight[:, :, 0, 0]
    channels = last.out_channels
    taps = last.weight.permute(2, 3, 0, 1).reshape(9 * channels, -1)  # (dy, dx, channel) x hidden
    slope = activation.negative_slope
    band = max(1, PIXELS_PER_BAND // width)
    out = torch.empty(channels, height, width)
    # One buffer per layer for all bands: fresh ones per band cost page faults whenever the
    # allocator hands their memory back (up to a third more time, measured).
    room = (min(band, height) + 2) * (width + 2)
    buffers = [torch.empty(len(weight) * room) for weight in (first_weight, second_weight, taps)]
    for top in range(0, height, band):
        bottom = min(top + band, height)
        rows = bottom - top + 2  # the band and its border
        pixels = stacked[:, top : bottom + 2].reshape(len(kept), rows * (width + 2))
        hidden, middle, contributions = (
            buffer[: len(weight) * rows * (width + 2)].view(len(weight), -1)
            for buffer, weight in zip(buffers, (first_weight, second_weight, taps), strict=True)
        )
        torch.addmm(first.bias[:, None], first_weight, pixels, out=hidden)
        torch.addmm(second.bias[:, None], second_weight, F.leaky_relu_(hidden, slope), out=middle)
        torch.mm(taps, F.leaky_relu_(middle, slope), out=contributions)
        _sum_taps(contributions.view(-1, rows, width + 2), last.bias, out[:, top:bottom])
    return out.add_(0.5)


def _upsample_into(grid: torch.Tensor, out: torch.Tensor) -> None:
    """upsample(grid, border=1) into ``out`` (height + 2 x width + 2); by matrices in the
    cheaper order for a grid wider than tall: rows @ (grid @ columns.T)."""
    size = (out.shape[0] - 2, out.shape[1] - 2)
    if grid.shape == size or max(grid.shape) > MATMUL_GRID_SIDE:
        out.copy_(upsample(grid[None, None], size, border=1))
        return
    rows = _bicubic_matrix(grid.shape[0], size[0], 1, grid.device, grid.dtype)
    columns = _bicubic_matrix(grid.shape[1], size[1], 1, grid.device, grid.dtype)
    torch.mm(rows, grid @ columns.T, out=out)


def _upsample_by_phases(grid: torch.Tensor, out: torch.Tensor) -> bool:
    """upsample(grid, border=1) into ``out`` (height + 2 x width + 2) when the image's sides
    are whole multiples f (2 <= f <= MAX_PHASE_FACTOR) of the grid's: along each axis,
    output position f * k + p is a few taps of the replicate-padded grid around k, the
    same for every k, read from the bicubic kernel's matrix. Returns False, leaving ``out``
    alone, for other grids."""
    (rows, columns), (height, width) = grid.shape, (out.shape[0] - 2, out.shape[1] - 2)
    factors = (height // rows, width // columns)
    if (
        (height % rows, width % columns) != (0, 0)
        or min(rows, columns) < MIN_PHASE_GRID_SIDE
        or not all(2 <= f <= MAX_PHASE_FACTOR for f in factors)
    ):
        return False
    across = torch.empty(rows, width)
    _phases(grid, factors[1], across, dim=1)
    _phases(across, factors[0], out[1:-1, 1:-1], dim=0)
    out[0, 1:-1], out[-1, 1:-1] = out[1, 1:-1], out[-2, 1:-1]
    out[:, 0], out[:, -1] = out[:, 1], out[:, -2]
    return True


def _phases(grid: torch.Tensor, factor: int, out: torch.Tensor, dim: int) -> None:
    """Upsample ``grid`` (2-D) by ``factor`` along ``dim`` into ``out``. Each phase reads
    and writes along the rows' own layout (transposed views made it 2x slower)."""
    length = grid.shape[dim]
    padded = grid.index_select(dim, torch.arange(-2, length + 2).clamp_(0, length - 1))
    for phase, taps in enumerate(_phase_taps(length, factor)):
        view = out[phase::factor] if dim == 0 else out[:, phase::factor]
        (first, weight), *rest = taps
        torch.mul(padded.narrow(dim, first, length), weight, out=view)
        for offset, weight in rest:
            view.add_(padded.narrow(dim, offset, length), alpha=weight)


@functools.lru_cache(maxsize=64)
def _phase_taps(length: int, factor: int) -> tuple[tuple[tuple[int, float], ...], ...]:
    """Per phase, the (offset into the grid padded by 2, weight) of each non-zero tap, read
    from an interior row of the bicubic matrix (its weights lie within 2 positions)."""
    matrix = _bicubic_matrix(length, length * factor, 0, torch.device("cpu"), torch.float32)
    middle = length // 2
    phases = []
    for phase in range(factor):
        row = matrix[factor * middle + phase]
        window = row[middle - 2 : middle + 3]
        if window.abs().sum() != row.abs().sum():
            raise AssertionError("bicubic taps reach beyond 2 positions")
        phases.append(tuple((i, float(w)) for i, w in enumerate(window.tolist()) if w != 0))
    return tuple(phases)


def _sum_taps(contributions: torch.Tensor, bias: torch.Tensor, out: torch.Tensor) -> None:
    """out (C x rows x width) = bias + each 3x3 tap's contributions (9 C x rows + 2 x width + 2,
    tap-major) shifted into place."""
    channels, rows, width = out.shape
    out.copy_(bias[:, None, None].expand_as(out))
    for tap, (dy, dx) in enumerate(itertools.product(range(3), range(3))):
        taps = contributions[channels * tap : channels * (tap + 1)]
        out += taps[:, dy : dy + rows, dx : dx + width]


def _arm(hidden: int) -> nn.Sequential:
    """Context -> (mean, log-scale), on the last dimension."""
    return nn.Sequential(
        nn.Linear(CONTEXT_SIZE, hidden), nn.ReLU(),
        nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, 2),
    )  # fmt: skip


def _synthesis(grids: int, hidden: int, slope: float, channels: int) -> nn.Sequential:
    """Stacked upsampled grids -> the image's channels."""
    return nn.Sequential(
        nn.Conv2d(grids, hidden, 1), nn.LeakyReLU(slope, inplace=True),
        nn.Conv2d(hidden, hidden, 1), nn.LeakyReLU(slope, inplace=True),
        nn.Conv2d(hidden, channels, 3),  # on grids upsampled with a replicated border
    )  # fmt: skip


def group_tensors(model: OverfitModel, group: str) -> list[nn.Parameter]:
    """The parameters of a group (GROUPS), in a fixed order."""
    network, kind = group.split(".")
    return [p for name, p in getattr(model, network).named_parameters() if name.endswith(kind)]


class _OnGrid(nn.Module):
    """A parametrization: the tensor rounded to multiples of 2**-exponent, straight-through."""

    def __init__(self, exponent: int) -> None:
        super().__init__()
        self.scale = 2.0**exponent

    def forward(self, tensor: torch.Tensor) -> torch.Tensor:
        return rounded(tensor * self.scale) / self.scale


def put_networks_on_grids(model: OverfitModel, exponents: Sequence[int]) -> None:
    """Until release_networks, the networks' parameters read as rounded to their group's
    grid of 2**-exponent (GROUPS order); gradients pass straight through to the parameters."""
    for group, exponent in zip(GROUPS, exponents, strict=True):
        network, kind = group.split(".")
        for module in getattr(model, network).modules():
            if isinstance(getattr(module, kind, None), nn.Parameter):
                parametrize.register_parametrization(module, kind, _OnGrid(exponent))


def release_networks(model: OverfitModel) -> None:
    """End put_networks_on_grids: each parameter keeps its rounded value."""
    for network in (model.arm, model.synthesis):
        for module in network.modules():
            for kind in ("weight", "bias"):
                if parametrize.is_parametrized(module, kind):
                    parametrize.remove_parametrizations(module, kind, leave_parametrized=True)


def with_coarser(
    latents: list[torch.Tensor],
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """(grid, the next coarser grid or None), coarsest first: the coding order."""
    for index in reversed(range(len(latents))):
        yield latents[index], latents[index + 1] if index + 1 < len(latents) else None


def pass_view(latent: torch.Tensor, number: int) -> torch.Tensor:
    """The positions of a grid that pass ``number`` codes (a strided view)."""
    py, px = PASSES[number]
    return latent[..., py::2, px::2]


def pass_contexts(latent: torch.Tensor, coarser: torch.Tensor | None, number: int) -> torch.Tensor:
    """The ARM's input for the positions of pass ``number``: h' x w' x len(COLUMNS[number]).

    Only positions of earlier passes (and the coarser grid) reach it, whatever ``latent``
    holds elsewhere, so a decoder may leave later positions at any value.
    """
    return torch.stack(_context_columns(latent, coarser, number), dim=-1)


def _context_columns(
    latent: torch.Tensor, coarser: torch.Tensor | None, number: int
) -> list[torch.Tensor]:
    """Each of pass ``number``'s COLUMNS over its positions (h' x w' views)."""
    return padded_context_columns(
        F.pad(latent, (2, 2, 2, 2))[0, 0],
        None if coarser is None else F.pad(coarser, (1, 1, 1, 1))[0, 0],
        number,
    )


def padded_context_columns(
    padded: torch.Tensor, coarser: torch.Tensor | None, number: int
) -> list[torch.Tensor]:
    """Each of pass ``number``'s COLUMNS over its positions (h' x w' views), from its grid with
    a border of two zeros and the coarser grid (or None) with a border of one (2-D each)."""
    py, px = PASSES[number]
    height, width = (padded.shape[0] - 3 - py) // 2, (padded.shape[1] - 3 - px) // 2
    columns = [
        padded[2 + py + dy :: 2, 2 + px + dx :: 2][:height, :width]
        for (dy, dx), visible in zip(NEIGHBOURS, VISIBLE[number], strict=True)
        if visible
    ]
    if coarser is None:
        return columns + [padded.new_zeros(height, width)] * len(PARENTS)
    return columns + [
        coarser[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width] for dy, dx in PARENTS
    ]


def pass_input_layer(arm: nn.Sequential, number: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight, bias) of the ARM's first layer as pass ``number`` runs it: only its COLUMNS,
    and the one-hot's column folded into the bias. Differentiable."""
    first = arm[0]
    return first.weight[:, COLUMNS[number]], first.bias + first.weight[:, ONE_HOT + number]


def full_contexts(contexts: torch.Tensor, number: int) -> torch.Tensor:
    """Pass ``number``'s contexts as the whole ARM reads them (CONTEXT_SIZE wide): hidden
    neighbours zero, the pass one-hot set."""
    full = contexts.new_zeros(*contexts.shape[:-1], CONTEXT_SIZE)
    full[..., list(COLUMNS[number])] = contexts
    full[..., ONE_HOT + number] = 1
    return full


def laplace_parameters(
    contexts: torch.Tensor, arm: nn.Sequential, number: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ARM's (mean, log-scale) for pass ``number``'s contexts, clamped to the coding
    table's range."""
    hidden = F.linear(contexts, *pass_input_layer(arm, number))
    mean, log_scale = arm[1:](hidden).unbind(dim=-1)
    return mean, log_scale.clamp(LOG_SCALE_LOW, LOG_SCALE_HIGH)


def grid_bits(
    latent: torch.Tensor, coarser: torch.Tensor | None, arm: nn.Sequential
) -> torch.Tensor:
    """-log2 of the probability of a grid's (quantized or noisy) values under the ARM's
    Laplace distributions, each integrated over its value's unit interval."""
    total = latent.new_zeros(())
    for number in range(len(PASSES)):
        values = pass_view(latent, number)[0, 0]
        if values.numel():
            contexts = pass_contexts(latent, coarser, number)
            mean, log_scale = laplace_parameters(contexts, arm, number)
            total = total + laplace_bits(values, mean, torch.exp(log_scale))
    return total


def laplace_bits(values: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Bits of values under discretised Laplace(mean, scale) distributions, summed."""
    return laplace_position_bits(values, mean, scale).sum()


def laplace_position_bits(
    values: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor
) -> torch.Tensor:
    """Bits of each value under its discretised Laplace(mean, scale) distribution."""
    centred = values - mean
    probability = _laplace_cdf(centred + 0.5, scale) - _laplace_cdf(centred - 0.5, scale)
    return -torch.log2(probability.clamp(min=2**-30))


def _laplace_cdf(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return 0.5 + 0.5 * torch.sign(x) * -torch.expm1(-x.abs() / scale)


def with_noise(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Additive uniform noise in [-0.5, 0.5): the differentiable stand-in for rounding."""
    noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x + noise - 0.5


def rounded(x: torch.Tensor) -> torch.Tensor:
    """Rounding with the identity's gradient (straight-through)."""
    return x + (torch.round(x) - x).detach()


@dataclass
class FitReport:
    """Where a fitting step stands: bits per pixel (estimated) and PSNR of the rounded model."""

    step: int
    bpp: float
    psnr: float


def rounding_share(steps: int) -> float:
    """The share of a fit's steps with straight-through rounding: ROUNDING_STEPS of them, but
    no more than ROUNDING_SHARES[1] and no fewer than ROUNDING_SHARES[0] of all."""
    low, high = ROUNDING_SHARES
    return min(high, max(low, ROUNDING_STEPS / max(steps, 1)))


#: Chooses the grids (an exponent per GROUPS entry) the networks are fitted on in a fit's
#: rounding steps, given the model, the image and lambda.
NetworkGrids = Callable[["OverfitModel", torch.Tensor, float], Sequence[int]]
#: Zeroes the latent grids of a model that cost more bits than they save in error, given the
#: image and lambda; returns their indices (finest first).
IdleGrids = Callable[["OverfitModel", torch.Tensor, float], Sequence[int]]


@dataclass(frozen=True)
class FitOptions:
    """How a fit runs: the share of its steps with noisy latents (None: rounding_share's
    complement), the networks' and the latents' learning rates, Adam's decay rates, and
    what chooses the grids the networks are fitted on in the rounding steps (None: they
    stay unquantized), and what drops idle latent grids after idle_check steps, to be held
    at zero from then on (None: none are)."""

    noise_share: float | None = None
    learning_rate: float = 2e-2
    latent_learning_rate: float = 0.4
    betas: tuple[float, float] = ADAM_BETAS
    network_grids: NetworkGrids | None = None
    idle_grids: IdleGrids | None = None
    idle_check: int = 100


class Fitting:
    """A fit in progress of ``model`` to ``image`` (channels x H x W in [0, 1]), ``steps``
    steps minimising bpp + lam * 255^2 * MSE: the model, its optimiser, learning-rate
    schedule and noise generator, and the steps taken so far.

    Latents move twenty times faster than the networks (or they stay near zero in a short
    fit), both learning rates decaying to zero along a cosine. With options.network_grids,
    the rounding steps run the networks on the grids it chooses when they begin
    (straight-through), and the fit ends with the networks on those grids. With
    options.idle_grids, the grids it drops after idle_check steps stay at zero: they cost
    no bits and their rate is no longer computed. Deterministic for a seed on one device.
    """

    def __init__(
        self,
        model: OverfitModel,
        image: torch.Tensor,
        lam: float,
        steps: int,
        options: FitOptions = FitOptions(),
        seed: int = 0,
    ) -> None:
        self.model, self.image, self.lam, self.steps = model, image, lam, steps
        self.network_grids, self.on_grids = options.network_grids, False
        self.idle_grids, self.idle_check = options.idle_grids, options.idle_check
        share = options.noise_share
        self.noisy_steps = steps * (1 - rounding_share(steps) if share is None else share)
        self.pixels = image.shape[-2] * image.shape[-1]
        self.generator = torch.Generator(image.device).manual_seed(seed)
        self.optimizer = torch.optim.Adam(
            [
                {
                    "params": list(model.latents),
                    "lr": options.latent_learning_rate,
                    "eps": LATENT_EPSILON_PIXELS / self.pixels,
                },
                {"params": [*model.arm.parameters(), *model.synthesis.parameters()]},
            ],
            lr=options.learning_rate,
            betas=options.betas,
        )
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / max(steps, 1)))
        )
        self.taken = 0

    def step(self) -> None:
        """One step: noisy latents for the first noisy_steps, then straight-through rounding
        (of the networks too, with network_grids)."""
        if self.idle_grids is not None and self.taken == self.idle_check:
            self.model.dropped.update(self.idle_grids(self.model, self.image, self.lam))
        if self.taken < self.noisy_steps:
            quantize = functools.partial(with_noise, generator=self.generator)
        else:
            quantize = rounded
            if self.network_grids is not None and not self.on_grids:
                grids = self.network_grids(self.model, self.image, self.lam)
                put_networks_on_grids(self.model, grids)
                self.on_grids = True
        decoded, bits = self.model(quantize)
        loss = bits / self.pixels + self.lam * 255**2 * F.mse_loss(decoded, self.image)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.schedule.step()
        self.taken += 1
        if self.on_grids and self.taken == self.steps:
            release_networks(self.model)

    def finish(self) -> FitReport:
        """Take the remaining steps; returns the final rounded model's report."""
        while self.taken < self.steps:
            self.step()
        return evaluate(self.model, self.image, self.steps)

    def loss(self) -> float:
        """The rounded model's estimated bpp + lam * 255^2 * MSE of its 8-bit samples."""
        report = evaluate(self.model, self.image)
        return report.bpp + self.lam * 255**2 * 10 ** (-report.psnr / 10)


Reporter = Callable[[FitReport], None]


def fit_best_start(
    models: list[OverfitModel],
    image: torch.Tensor,
    lam: float,
    steps: int,
    trial_steps: int,
    options: FitOptions = FitOptions(),
    *,
    seed: int = 0,
    on_report: Reporter = lambda report: None,
    report_every: int = 100,
) -> OverfitModel:
    """Run the first ``trial_steps`` (at most ``steps``) of a ``steps``-step fit from each of
    ``models`` (their networks drawn from different seeds; the i-th fit's noise from ``seed``
    + i), then finish the fit whose rounded model has the lowest loss; returns its model.
    Reports count the steps of all fits: (len(models) - 1) * trial_steps + steps in all."""
    trial_steps = min(trial_steps, steps)
    fittings = [
        Fitting(model, image, lam, steps, options, seed + i) for i, model in enumerate(models)
    ]
    for i, fitting in enumerate(fittings):
        _advance(fitting, trial_steps, i * trial_steps, on_report, report_every)
    best = fittings[0] if len(fittings) == 1 else min(fittings, key=Fitting.loss)
    done = len(fittings) * trial_steps
    del fittings  # the others' optimiser states
    _advance(best, steps - trial_steps, done, on_report, report_every)
    return best.model


def _advance(fitting: Fitting, count: int, done: int, on_report: Reporter, every: int) -> None:
    """Take ``count`` steps of ``fitting``, reporting whenever the steps of the whole encode
    (``done`` before these) reach a multiple of ``every``."""
    for _ in range(count):
        fitting.step()
        done += 1
        if done % every == 0:
            on_report(evaluate(fitting.model, fitting.image, done))


@torch.no_grad()
def evaluate(model: OverfitModel, image: torch.Tensor, step: int = 0) -> FitReport:
    """Estimated bpp and PSNR (8-bit samples) of the model with rounded latents."""
    decoded, bits = model(torch.round)
    pixels = image.shape[-2] * image.shape[-1]
    mse = F.mse_loss(torch.round(decoded.clamp(0, 1) * 255), torch.round(image * 255))
    psnr = float(10 * torch.log10(255**2 / mse)) if mse > 0 else math.inf
    return FitReport(step, float(bits) / pixels, psnr)
