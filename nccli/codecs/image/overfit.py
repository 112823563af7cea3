"""nc-overfit: an image codec with no trained weights; a small model is fitted to each image.

Encoding fits nccli.models.image.overfit's latent grids and networks to the image
(rate + lambda * distortion, lambda from --quality), quantizes the networks, zeroes the
grids that cost more bits than they save in error, moves single latents by one step where
that lowers the loss (nccli.models.image.overfit_refine), and writes both with
nccli.models.image.overfit_coding. Decoding runs no optimisation: it reads the networks,
decodes the latents through the exact integer path, and runs the synthesis once, on the CPU.
Fitting runs on the selected device (--device); it is deterministic for a seed on one device.
An image whose three channels are equal everywhere is fitted and coded as one grey channel
(marked ``grey`` in the header; version 5 on) and decodes with three equal channels.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from nccli.codecs.base import Codec, Encoded, Param
from nccli.codecs.effort import effort_param
from nccli.codecs.image.learned import is_grey, refuse_alpha_and_16_bit
from nccli.container.header import CoderRef, Header
from nccli.errors import InvalidInputError
from nccli.media.image import Image, convert_mode

#: Named efforts and the fitting steps they run: on 2 CPU cores a 768x512 image takes about
#: 1 minute at fast and 5-6 at default (300-335 s measured with its four starts; a step is
#: 0.2-0.35 s there).
EFFORTS = {"fast": 200, "default": 1200, "max": 5000}
#: Bounds of an effort given as a number of steps.
MIN_STEPS, MAX_STEPS = 10, 1_000_000
#: The lambda of quality 1; it doubles with each quality step.
LAMBDA_AT_QUALITY_1 = 2.5e-4
#: The latent step is 2**-(HALVINGS_AT_QUALITY_1 + (quality - 1) / QUALITIES_PER_HALF_STEP).
#: Measured on crops of two validation photos (docs/notes/nc-overfit.md): halving every three
#: qualities at 300 fitting steps; at the default effort's 1200, steps half a halving finer won.
QUALITIES_PER_HALF_STEP = 3
HALVINGS_AT_QUALITY_1 = 0.5
#: The latent bitstream format of each codec version.
LATENT_FORMATS = {1: 1, 2: 2, 3: 2, 4: 3, 5: 3}
#: The first version that codes grey images as one channel.
GREY_SINCE = 5
#: Range of a latent step in a header.
MIN_LATENT_STEP, MAX_LATENT_STEP = 2.0**-8, 1.0
#: Coarsest-grid limit: the model has at most this many grids, fewer for small images.
MAX_GRIDS = 7
#: Images of fewer than NARROW_SYNTHESIS_BELOW pixels get a synthesis NARROW_SYNTHESIS wide
#: (the model's default: 24): its parameters cost about as many bits on any image, so they
#: weigh most on small ones (docs/notes/nc-overfit.md).
NARROW_SYNTHESIS = 16
NARROW_SYNTHESIS_BELOW = 1 << 18
#: Status lines sent to the progress bar while fitting.
REPORTS = 50
#: A fit of at least STARTS_FROM_STEPS steps first runs its first TRIAL_STEPS from STARTS
#: starting networks (seeds seed, seed + 1, ...) and finishes the best: on three whole photos
#: at the default effort the loss fell by 0, 2.1 and 3.8 %. On crops of the validation photos
#: (1200 steps, seeds 0-3, twelve crop and quality pairs) the start picked at step 50 ended
#: 2.4 % below the mean of the four on average, at step 100 1.9 %, the best 2.8 %: 50 steps
#: pick about as well as 100, for 150 fewer steps (docs/notes/nc-overfit.md).
STARTS, TRIAL_STEPS, STARTS_FROM_STEPS = 4, 50, 1000

#: Fits of at least this many steps run their rounding steps with the networks on the grids
#: they are coded on, one step coarser than those they would take then: on crops of four
#: validation photos the loss fell by 2.5-7.3 % at quality 3 (200 and 1200 steps), on whole
#: photos at the default effort by 3.0 and 1.7 % at quality 3, 0.5 % at 5; on 64x64 crops
#: 100 steps lost as often as they won (docs/notes/nc-overfit.md).
NETWORK_GRIDS_FROM_STEPS = 200

#: After this many steps a fit drops the latent grids that cost more bits than they save in
#: error (overfit_coding.drop_idle_grids) and holds them at zero: their rate is no longer
#: computed, and the finest grid's is most of a step's (docs/notes/nc-overfit.md).
IDLE_CHECK_STEP = 100

#: Sweeps of latent refinement (overfit_refine) after a fit of at least so many steps: on
#: 256x384 crops of four validation photos at qualities 3, 5 and 7 and 200 steps, one sweep
#: lowered the loss by 3.7-12.0 %, a second by 0.6-3.8 % more, a third by 0.1-1.2 % more
#: (docs/notes/nc-overfit.md).
REFINE_SWEEPS = {0: 1, STARTS_FROM_STEPS: 2, EFFORTS["max"]: 3}
#: A sweep takes about as long as this many fitting steps (the progress bar's measure of the
#: work): 28-32 s against 163 s for 200 steps (Dragonfly 768x512, quality 5, 2 threads).
SWEEP_STEPS = 40

QUALITY = Param("quality", float, 1, 8, 4, "rate-distortion trade-off: +1 doubles lambda")
SEED = Param("seed", int, 0, 2**31 - 1, 0, "seed of the initial networks and the fitting noise")


EFFORT = effort_param(EFFORTS, MIN_STEPS, MAX_STEPS, "fitting steps")


def fitting_steps(effort: str) -> int:
    """The number of fitting steps of a (validated) effort."""
    return EFFORT.steps(effort)


def fit_options(steps: int) -> Any:
    """How the encoder fits: idle grids dropped after IDLE_CHECK_STEP steps, and the networks
    fitted on their coding grids in the rounding steps (overfit_coding.rounding_grids) when
    the fit has at least NETWORK_GRIDS_FROM_STEPS."""
    from nccli.models.image import overfit, overfit_coding

    idle = {"idle_grids": overfit_coding.drop_idle_grids, "idle_check": IDLE_CHECK_STEP}
    if steps < NETWORK_GRIDS_FROM_STEPS:
        return overfit.FitOptions(**idle)
    return overfit.FitOptions(network_grids=overfit_coding.rounding_grids, **idle)


def refine_sweeps(steps: int) -> int:
    """The sweeps of latent refinement after a fit of ``steps`` steps (REFINE_SWEEPS)."""
    return max(sweeps for least, sweeps in REFINE_SWEEPS.items() if steps >= least)


def quality_lambda(quality: float) -> float:
    """The rate-distortion weight of a quality."""
    return LAMBDA_AT_QUALITY_1 * 2.0 ** (quality - 1)


def quality_latent_step(quality: float) -> float:
    """The latent step of a quality: finer quantization for higher qualities."""
    return 2.0 ** -(HALVINGS_AT_QUALITY_1 + (quality - 1) / QUALITIES_PER_HALF_STEP)


def model_shape(height: int, width: int, grey: bool = False) -> Any:
    """The OverfitShape to fit to an image: grid_count grids, a narrower synthesis for small
    images, one output channel for a grey one."""
    from nccli.models.image.overfit import OverfitShape

    shape = OverfitShape(grids=grid_count(height, width), channels=1 if grey else 3)
    if height * width < NARROW_SYNTHESIS_BELOW:
        return dataclasses.replace(shape, synthesis_hidden=NARROW_SYNTHESIS)
    return shape


def grid_count(height: int, width: int) -> int:
    """As many grids as halvings of the shorter side leave at least one position (at most
    MAX_GRIDS): a tiny image gets no grids coarser than itself."""
    return min(MAX_GRIDS, min(height, width).bit_length())


class OverfitCodec(Codec):
    name = "nc-overfit"
    modality = "image"
    # 2: per-pass ARM input layers and grid flags; 3: leaky synthesis, latent step; 4: the
    # ARM's exact path on 6 fractional bits; 5: grey images as one channel (all decode)
    version = 5
    description = "image codec fitted to each image at encode time (no trained weights)"
    params = (QUALITY, EFFORT, SEED)
    rate_param = "quality"
    sweep = (1, 2, 3, 4, 5, 6, 7, 8)

    def check(self, media: Image) -> None:
        refuse_alpha_and_16_bit(self.name, media)

    def encode(self, media: Image, params: dict[str, Any]) -> Encoded:
        import torch

        from nccli.codecs.device import torch_device
        from nccli.codecs.progress import report
        from nccli.entropy import CODER_NAME, CODER_VERSION
        from nccli.models.heap import reused_heap
        from nccli.models.image import overfit, overfit_coding, overfit_refine

        device = torch_device()
        pixels = np.array(convert_mode(media, "RGB").pixels)
        grey = is_grey(pixels)
        if grey:
            pixels = pixels[:, :, :1]
        image = torch.from_numpy(pixels).permute(2, 0, 1).to(device).float() / 255
        shape = model_shape(media.height, media.width, grey)
        step = quality_latent_step(params["quality"])
        steps, lam = fitting_steps(params["effort"]), quality_lambda(params["quality"])
        starts = STARTS if steps >= STARTS_FROM_STEPS else 1
        models = [
            overfit.OverfitModel(media.height, media.width, shape, params["seed"] + i, step)
            for i in range(starts)
        ]
        total = steps + (starts - 1) * TRIAL_STEPS
        sweeps = refine_sweeps(steps)
        work = total + sweeps * SWEEP_STEPS  # in fitting steps
        with reused_heap():  # each step frees and allocates the same large tensors again
            model = overfit.fit_best_start(
                [candidate.to(device) for candidate in models], image, lam, steps, TRIAL_STEPS,
                fit_options(steps),
                seed=params["seed"],
                report_every=max(1, total // REPORTS),
                on_report=lambda r: report(
                    r.step / work, f"step {r.step}/{total}: {r.bpp:.3f} bpp, {r.psnr:.2f} dB"
                ),
            )  # fmt: skip
            quantized = overfit_coding.quantize_for_coding(model, image, lam)
            overfit_refine.refine_latents(
                model, image, lam, sweeps,
                on_progress=lambda done: report(
                    (total + done * sweeps * SWEEP_STEPS) / work, "refining latents"
                ),
            )  # fmt: skip
        report(1.0, "coding")
        model.cpu()
        chunks = [
            overfit_coding.encode_parameters(model, quantized),
            overfit_coding.encode_latents(overfit_coding.latent_integers(model), model.arm),
        ]
        return Encoded(
            chunks,
            fields={
                "shape": [shape.grids, shape.arm_hidden, shape.synthesis_hidden],
                "exponents": list(quantized.exponents),
                "latent_step": step,
                **({"grey": True} if grey else {}),
            },
            entropy_coder=CoderRef(CODER_NAME, CODER_VERSION),
        )

    def decode(self, header: Header, chunks: list[bytes]) -> Image:
        import torch

        from nccli.models.image.overfit import render

        model, latents = read_model(header, chunks)
        samples = render(model, latents).mul_(255).clamp_(0, 255).round_().to(torch.uint8)
        samples = samples.expand(3, -1, -1)  # a grey model's one channel thrice
        return Image(np.stack(samples.numpy(), axis=-1))  # 3 x H x W -> H x W x 3


def read_model(header: Header, chunks: list[bytes]) -> tuple[Any, list[Any]]:
    """The model (networks, latent step) and the decoded latent grids of an nc-overfit
    file of any version."""
    from nccli.models.image import overfit, overfit_coding

    version = header.codec_version
    latent_format = LATENT_FORMATS.get(version)
    if latent_format is None:
        raise InvalidInputError(f"nc-overfit version {version} does not exist")
    shape = _shape(header.fields.get("shape"), version, _grey(header))
    exponents = header.fields.get("exponents")
    if not isinstance(exponents, list) or not all(type(e) is int for e in exponents):
        raise InvalidInputError(f"nc-overfit exponents {exponents!r} are invalid")
    steps = overfit_coding.ParameterSteps(tuple(exponents))
    if len(chunks) != 2:
        raise InvalidInputError(f"nc-overfit payload has {len(chunks)} chunks, 2 expected")
    width, height = header.media["width"], header.media["height"]
    model = overfit.OverfitModel(height, width, shape, latent_step=_latent_step(header))
    overfit_coding.decode_parameters(chunks[0], model, steps)
    sizes = overfit.grid_sizes(height, width, shape.grids)
    latents = overfit_coding.decode_latents(chunks[1], sizes, model.arm, latent_format)
    return model, latents


def _grey(header: Header) -> bool:
    """The header's grey flag (absent: colour)."""
    grey = header.fields.get("grey", False)
    if type(grey) is not bool or (grey and header.codec_version < GREY_SINCE):
        raise InvalidInputError(f"nc-overfit grey flag {grey!r} is invalid")
    return grey


def _shape(value: Any, version: int, grey: bool) -> Any:
    from nccli.models.image.overfit import SYNTHESIS_SLOPE, OverfitShape

    if (
        not isinstance(value, list)
        or len(value) != 3
        or not all(type(v) is int for v in value)
        or not 1 <= value[0] <= MAX_GRIDS
        or not all(1 <= v <= 256 for v in value[1:])
    ):
        raise InvalidInputError(f"nc-overfit model shape {value!r} is invalid")
    return OverfitShape(
        *value, synthesis_slope=SYNTHESIS_SLOPE if version >= 3 else 0.0, channels=1 if grey else 3
    )


def _latent_step(header: Header) -> float:
    """The header's latent step (1 before version 3)."""
    if header.codec_version < 3:
        return 1.0
    step = header.fields.get("latent_step")
    if type(step) is not float or not MIN_LATENT_STEP <= step <= MAX_LATENT_STEP:
        raise InvalidInputError(f"nc-overfit latent step {step!r} is invalid")
    return step
