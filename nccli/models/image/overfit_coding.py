"""The bitstream of an overfitted image model: quantized network parameters, then latents.

Parameters: each group (ARM weights, ARM biases, synthesis weights, synthesis biases) is put
on a grid of 2**-exponent, and the integers are coded with one zero-mean Laplace row of the
fixed table per group (the row's scale index travels as one byte).

Latents: a byte of flags (which grids hold any non-zero value: the others are neither coded
nor run through the ARM), then coarsest grid first, each grid in the model's four passes;
every pass is one batch for constriction's range coder, with rows from the ARM run on
nccli.models.exact's integer path over what is already decoded. Nothing the decoder
depends on is a float computed on its own side, so decoding gives the same latents on every
machine, whatever the device, thread count or BLAS (DESIGN.md, Determinism).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nccli.entropy import coder
from nccli.entropy.laplace import (
    MEAN_STEPS,
    SCALES,
    laplace_table,
    rows_and_bases,
    rows_and_bases_in_units,
)
from nccli.errors import InvalidInputError
from nccli.models.exact import ACTIVATION_BITS, ExactSequential
from nccli.models.image.overfit import (
    GROUPS,
    LATENT_LIMIT,
    PASSES,
    OverfitModel,
    full_contexts,
    grid_bits,
    group_tensors,
    padded_context_columns,
    pass_contexts,
    pass_input_layer,
    pass_view,
    with_coarser,
)

#: The latent bitstream's format (1: nc-overfit version 1's, 2: versions 2 and 3's, 3: version
#: 4's).
LATENT_FORMAT = 3
#: Fractional bits of the ARM's activations on the exact path, per latent format. Format 3's
#: 6 keep a typical file's every sum within float32's exact integers (half the work of
#: float64) at no measurable cost in rate; the table reads means and log-scales on a grid of
#: 1/8 (docs/notes/nc-overfit.md).
ARM_ACTIVATION_BITS = {1: ACTIVATION_BITS, 2: ACTIVATION_BITS, 3: 6}
#: When this share of the coarser grid is zero, many contexts are all zero: the decoder looks
#: for them and runs the ARM once for all of them.
SPARSE_PARENTS = 0.5
#: Quantization steps are 2**-exponent with an exponent in this range.
EXPONENTS = range(0, 17)
#: The exponents an encoder tries.
SEARCHED_EXPONENTS = range(3, 15)


@dataclass(frozen=True)
class ParameterSteps:
    """The quantization exponent of each parameter group (GROUPS order)."""

    exponents: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.exponents) != len(GROUPS) or any(e not in EXPONENTS for e in self.exponents):
            raise InvalidInputError(f"parameter exponents {self.exponents!r} are invalid")


@torch.no_grad()
def quantize_parameters(model: OverfitModel, steps: ParameterSteps) -> None:
    """Put every parameter group on its grid, in place."""
    for group, exponent in zip(GROUPS, steps.exponents, strict=True):
        for parameter in group_tensors(model, group):
            parameter.copy_(torch.round(parameter * 2.0**exponent) / 2.0**exponent)


@torch.no_grad()
def choose_steps(model: OverfitModel, image: torch.Tensor, lam: float) -> ParameterSteps:
    """Quantize the networks in place with the exponents that minimise the parameters'
    bits + the latents' estimated bits + lam * 255^2 * squared error (as fitting weighs
    them), chosen group after group; returns the exponents."""
    networks = [*model.arm.parameters(), *model.synthesis.parameters()]
    originals = [p.clone() for p in networks]
    latents = latent_integers(model)
    exponents = [max(SEARCHED_EXPONENTS)] * len(GROUPS)

    def quantize_originals(steps: ParameterSteps) -> None:
        for parameter, original in zip(networks, originals, strict=True):
            parameter.copy_(original)
        quantize_parameters(model, steps)

    def cost(group: int, exponent: int) -> float:
        quantize_originals(ParameterSteps((*exponents[:group], exponent, *exponents[group + 1 :])))
        bits = _parameter_bits(_integers(model, GROUPS[group], exponent))
        if GROUPS[group].startswith("arm"):
            return bits + _latent_bits(latents, model.arm)
        return bits + _weighted_error(model, latents, image, lam)

    for group in range(len(GROUPS)):
        exponents[group] = min(SEARCHED_EXPONENTS, key=lambda e, g=group: cost(g, e))
    steps = ParameterSteps(tuple(exponents))
    quantize_originals(steps)
    return steps


@torch.no_grad()
def drop_idle_grids(model: OverfitModel, image: torch.Tensor, lam: float) -> list[int]:
    """Zero, finest first, each latent grid whose estimated bits exceed what its latents save
    of lam * 255^2 * squared error, in place; returns the zeroed grids' indices (finest
    first). An all-zero grid costs one flag bit, a step the fit's gradients cannot see: a
    fit may leave a few stray latents in a grid otherwise empty, and coding them codes every
    zero around them (on one photo, 3 % of the file for no change in error)."""
    latents = latent_integers(model)
    best = _latent_bits(latents, model.arm) + _weighted_error(model, latents, image, lam)
    dropped = []
    for index, grid in enumerate(latents):
        if grid.any():
            trial = [*latents[:index], torch.zeros_like(grid), *latents[index + 1 :]]
            cost = _latent_bits(trial, model.arm) + _weighted_error(model, trial, image, lam)
            if cost < best:
                latents, best = trial, cost
                model.latents[index].zero_()
                dropped.append(index)
    return dropped


def quantize_for_coding(model: OverfitModel, image: torch.Tensor, lam: float) -> ParameterSteps:
    """A fitted model made ready to code, in place: the networks on the steps choose_steps
    picks, then idle grids dropped; returns the steps."""
    steps = choose_steps(model, image, lam)
    drop_idle_grids(model, image, lam)
    return steps


def _latent_bits(latents: list[torch.Tensor], arm: nn.Sequential) -> float:
    """Estimated bits of the (integer) latents as coded: all-zero grids are not."""
    return float(sum(grid_bits(g, c, arm) for g, c in with_coarser(latents) if g.any()))


def _weighted_error(
    model: OverfitModel, latents: list[torch.Tensor], image: torch.Tensor, lam: float
) -> float:
    """lam * 255^2 * the squared error of the model's image from ``latents``, summed over
    pixels and averaged over channels (so that with bits it makes fitting's loss times the
    pixel count)."""
    error = F.mse_loss(model.synthesize(latents).clamp(0, 1), image, reduction="sum")
    return lam * 255**2 * float(error) / len(image)


@torch.no_grad()
def rounding_grids(model: OverfitModel, image: torch.Tensor, lam: float) -> tuple[int, ...]:
    """The grids a fit's rounding steps run the networks on (FitOptions.network_grids): what
    choose_steps picks for the model as it stands (left as it is), the weights' one step
    coarser. Fitted on them, the networks cost fewer bits for the same error. The biases,
    a few dozen values, stay where they were chosen: a coarser step would save a few dozen
    bits, and the synthesis' last bias moves every pixel by its rounding error (one photo
    lost 3.5 dB on entering the grids, docs/notes/nc-overfit.md)."""
    networks = [*model.arm.parameters(), *model.synthesis.parameters()]
    kept = [p.clone() for p in networks]
    chosen = choose_steps(model, image, lam).exponents
    for parameter, value in zip(networks, kept, strict=True):
        parameter.copy_(value)
    return tuple(
        max(min(EXPONENTS), exponent - 1) if group.endswith("weight") else exponent
        for group, exponent in zip(GROUPS, chosen, strict=True)
    )


def encode_parameters(model: OverfitModel, steps: ParameterSteps) -> bytes:
    """The (already quantized) parameters as integers, coded group by group."""
    symbols, rows, head = [], [], bytearray()
    for group, exponent in zip(GROUPS, steps.exponents, strict=True):
        integers = _integers(model, group, exponent)
        row = _best_zero_mean_row(integers)
        head.append(row // MEAN_STEPS)
        symbols.append(integers)
        rows.append(np.full(len(integers), row))
    return bytes(head) + coder.encode(
        np.concatenate(symbols), np.concatenate(rows), laplace_table()
    )


@torch.no_grad()
def decode_parameters(data: bytes, model: OverfitModel, steps: ParameterSteps) -> None:
    """Load what encode_parameters wrote into ``model``'s networks."""
    if len(data) < len(GROUPS) or any(index >= SCALES for index in data[: len(GROUPS)]):
        raise InvalidInputError("nc-overfit parameter data is damaged")
    sizes = [sum(p.numel() for p in group_tensors(model, group)) for group in GROUPS]
    scale_indices = data[: len(GROUPS)]
    rows = np.concatenate(
        [
            np.full(size, index * MEAN_STEPS)
            for size, index in zip(sizes, scale_indices, strict=True)
        ]
    )
    integers = coder.decode(data[len(GROUPS) :], rows, laplace_table())
    start = 0
    for group, exponent in zip(GROUPS, steps.exponents, strict=True):
        for parameter in group_tensors(model, group):
            values = integers[start : start + parameter.numel()]
            start += parameter.numel()
            flat = torch.from_numpy(values.astype(np.float64) / 2.0**exponent)
            parameter.copy_(flat.reshape(parameter.shape).to(parameter))


def _integers(model: OverfitModel, group: str, exponent: int) -> np.ndarray:
    values = torch.cat([p.detach().reshape(-1).cpu() for p in group_tensors(model, group)])
    return torch.round(values.double() * 2.0**exponent).numpy().astype(np.int64)


def _best_zero_mean_row(integers: np.ndarray) -> int:
    """The zero-mean table row that codes these integers in the fewest bits."""
    candidates = [index * MEAN_STEPS for index in range(SCALES)]
    return min(candidates, key=lambda row: _row_bits(integers, row))


def _parameter_bits(integers: np.ndarray) -> float:
    return _row_bits(integers, _best_zero_mean_row(integers))


def _row_bits(integers: np.ndarray, row: int) -> float:
    """Bits of integers coded with one table row, escaped values' varints included."""
    table = laplace_table()
    index = integers - table.offsets[row]
    escaped = integers[(index < 0) | (index >= table.lengths[row] - 1)]
    zigzag = np.where(escaped >= 0, 2 * escaped, -2 * escaped - 1)
    varint_bytes = np.maximum(1, -(-np.frexp(zigzag.astype(np.float64))[1] // 7)).sum()
    return table.bits(integers, np.full(len(integers), row)) + 8 * float(varint_bytes)


def latent_integers(model: OverfitModel) -> list[torch.Tensor]:
    """The model's latents as coded: rounded and clipped, finest grid first."""
    return [
        torch.round(latent.detach().clamp(-LATENT_LIMIT, LATENT_LIMIT)) for latent in model.latents
    ]


def encode_latents(latents: list[torch.Tensor], arm: nn.Sequential) -> bytes:
    """A byte with bit i set when grid i (finest first) holds a non-zero latent, then the
    range-coded passes of those grids, in decoding order (LATENT_FORMAT)."""
    passes = _exact_passes(arm, LATENT_FORMAT)
    encoder = coder.QueueEncoder(laplace_table())
    grids = [F.pad(grid.detach().cpu().float(), (2, 2, 2, 2))[0, 0] for grid in latents]
    coded = [bool(grid.any()) for grid in grids]
    largest = max(float(grid.abs().max()) for grid in grids)
    for index, (grid, coarser) in zip(
        reversed(range(len(grids))), with_coarser(grids), strict=True
    ):
        for number in range(len(PASSES)):
            values = pass_view(grid[2:-2, 2:-2], number)
            if coded[index] and values.numel():
                rows, bases = passes[number](grid, coarser, largest)
                encoder.encode(values.numpy().astype(np.int64).ravel() - bases, rows)
    return bytes([sum(1 << i for i, flag in enumerate(coded) if flag)]) + encoder.finish()


def decode_latents(
    data: bytes, sizes: list[tuple[int, int]], arm: nn.Sequential, version: int = LATENT_FORMAT
) -> list[torch.Tensor]:
    """Invert encode_latents given each grid's (height, width), finest first; ``version``
    1 reads what nc-overfit version 1 wrote (no grid flags, the ARM on whole contexts), 2
    what versions 2 and 3 wrote (the ARM on a finer grid), 3 what version 4 writes."""
    passes = _exact_passes(arm, version)
    if version == 1:
        coded = [True] * len(sizes)
    elif not data or data[0] >> len(sizes):
        raise InvalidInputError("nc-overfit latent data is damaged")
    else:
        coded, data = [bool(data[0] >> i & 1) for i in range(len(sizes))], data[1:]
    decoder = coder.QueueDecoder(data, laplace_table())
    grids = [torch.zeros(h + 4, w + 4) for h, w in sizes]
    largest = 0  # of the values decoded so far
    for index, (grid, coarser) in zip(
        reversed(range(len(sizes))), with_coarser(grids), strict=True
    ):
        for number in range(len(PASSES)):
            view = pass_view(grid[2:-2, 2:-2], number)
            if coded[index] and view.numel():
                rows, bases = passes[number](grid, coarser, largest)
                values = decoder.decode(rows) + bases
                largest = max(largest, int(np.abs(values).max()))
                if largest > LATENT_LIMIT:
                    raise InvalidInputError("nc-overfit latent data is damaged")
                view.copy_(torch.from_numpy(values.reshape(view.shape)))
    decoder.finish()
    return [grid[None, None, 2:-2, 2:-2] for grid in grids]  # float32 already


#: Per pass, the ARM on the integer path: (grid, the coarser grid or None; 2-D float32, each
#: with a border of two zeros; a bound on their values' magnitude) -> the table rows and
#: bases of the pass's positions.
PassRows = Callable[[torch.Tensor, torch.Tensor | None, float], tuple[np.ndarray, np.ndarray]]


@torch.no_grad()
def _exact_passes(arm: nn.Sequential, version: int) -> list[PassRows]:
    """Per pass, the table rows from the ARM on the integer path. Versions 2 and on give each
    pass its own input layer (pass_input_layer); version 1 ran the whole ARM on full
    contexts."""
    if version not in ARM_ACTIVATION_BITS:
        raise InvalidInputError(f"nc-overfit latent format {version} is unknown")
    whole = ExactSequential(arm, ARM_ACTIVATION_BITS[version])
    if version == 1:
        return [partial(_on_full_contexts, whole, number) for number in range(len(PASSES))]
    return [
        partial(_on_columns, whole.with_first_layer(*pass_input_layer(arm, number)), number)
        for number in range(len(PASSES))
    ]


def _on_columns(
    exact: ExactSequential,
    number: int,
    grid: torch.Tensor,
    coarser: torch.Tensor | None,
    largest: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Pass ``number``'s contexts stacked as the ARM's columns, through the ARM in integer
    units, to table rows. Where most parents are zero, so are many contexts: the ARM runs
    on the others, and once on a zero column for all of them."""
    columns = padded_context_columns(grid, None if coarser is None else coarser[1:-1, 1:-1], number)
    height, width = columns[0].shape
    stacked = torch.stack(columns).view(len(columns), height * width)
    parents = None if coarser is None else coarser[2:-2, 2:-2].numpy()
    if parents is not None and np.count_nonzero(parents) <= (1 - SPARSE_PARENTS) * parents.size:
        every = stacked.numpy()
        nonzero = every.any(0)
        zero = int(nonzero.argmin())  # a zero context, if there is one
        if not nonzero[zero]:
            return _spread_zero_context(exact, every, nonzero, zero, largest)
    return rows_and_bases_in_units(exact.on_integer_columns(stacked, largest), exact.bits)


def _spread_zero_context(
    exact: ExactSequential, columns: np.ndarray, nonzero: np.ndarray, zero: int, largest: float
) -> tuple[np.ndarray, np.ndarray]:
    """Table rows and bases of ``columns``, the ARM run only on the ``nonzero`` ones and on
    column ``zero``, whose row and base all the other zero columns take."""
    positions = np.flatnonzero(nonzero)
    picked = np.take(columns, np.append(positions, zero), axis=1)  # numpy's take: 3-4x torch's
    some_rows, some_bases = rows_and_bases_in_units(
        exact.on_integer_columns(torch.from_numpy(picked), largest), exact.bits
    )
    rows, bases = np.full(len(nonzero), some_rows[-1]), np.full(len(nonzero), some_bases[-1])
    rows[positions], bases[positions] = some_rows[:-1], some_bases[:-1]
    return rows, bases


def _on_full_contexts(
    whole: ExactSequential,
    number: int,
    grid: torch.Tensor,
    coarser: torch.Tensor | None,
    largest: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Version 1's rows: the whole ARM on full contexts (no use for ``largest``)."""
    inner = grid[None, None, 2:-2, 2:-2]
    outer = None if coarser is None else coarser[None, None, 2:-2, 2:-2]
    contexts = full_contexts(pass_contexts(inner, outer, number), number)
    return rows_and_bases(*whole(contexts).reshape(-1, 2).T)
