"""nc-overfit fitting choices compared on crops: the measurements behind its settings.

    python scripts/tune_overfit.py --qualities 4 7 --steps 300 [--latent-steps 0.5 0.25]
        [--synthesis-hiddens 24 16] [--adam-beta2s 0.999 0.95] [--grid-fittings 0 1]
        [--refine-sweepss 0 1 2]
        [--seeds 0 1] [--jobs 2] [--trials 50 100]
        [--photos plasma-ColorfulCups lomiri-Dragonfly_by_Bolly]

Fits nc-overfit's model to a centre crop (--crop, default 256x384) of each validation photo,
for every quality, seed and setting, one torch thread per fit and --jobs fits at a time,
quantizes its networks as the encoder does, and prints each fit's real bpp (latents + networks,
their coded sizes), PSNR and loss (total bpp + lambda * 255^2 * MSE of the quantized model, as
encoding weighs them; lower is better), then each setting's summed loss per quality. A setting
is one value of each of DEFAULTS (latent step, network widths, learning rates, noise share,
Adam's decay rates, fitting the networks on their coding grids, dropping idle grids, sweeps of
latent refinement); every combination of the values given is run. Until 2026-11-23 the loss
held the latents' bits only and the PSNR before the networks were quantized.

--trials K ... scores each fit after K steps as the encoder's choice of a starting network
does (`fit_best_start`: the rounded model's estimated loss) and prints, for each crop,
quality and setting fitted from several seeds, the seed that score would pick at each K and
its final loss against the best seed's and the seeds' mean: whether a shorter trial picks
as well.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nccli.codecs.image.learned import is_grey
from nccli.codecs.image.overfit import (
    fit_options,
    model_shape,
    quality_lambda,
    quality_latent_step,
    refine_sweeps,
)
from nccli.media.image import read_image
from nccli.models.heap import reused_heap
from nccli.models.image import overfit, overfit_coding, overfit_refine

ROOT = Path(__file__).resolve().parents[1]


#: The settings under test and their defaults: the model's latent step and network widths,
#: FitOptions' learning rates and noise share, Adam's two decay rates, whether the rounding
#: steps fit the networks on their coding grids (1) or not (0), when the fit drops idle grids
#: (0: never), the sweeps of latent refinement after it (None: the encoder's choice for the
#: quality, crop and step count). A flag --<name>s (dashes for underscores) takes the
#: values to compare.
DEFAULTS: dict[str, float | None] = {
    "latent_step": None,
    "arm_hidden": None,
    "synthesis_hidden": None,
    **{
        name: getattr(overfit.FitOptions(), name)
        for name in ("learning_rate", "latent_learning_rate", "noise_share")
    },
    "adam_beta1": overfit.ADAM_BETAS[0],
    "adam_beta2": overfit.ADAM_BETAS[1],
    "grid_fitting": None,
    "idle_check": None,
    "refine_sweeps": None,
}

#: The settings that are network widths (OverfitShape's fields).
WIDTHS = ("arm_hidden", "synthesis_hidden")


@dataclass(frozen=True)
class Fit:
    """One fit to run: a crop, a quality, a seed and the setting under test."""

    photo: Path
    crop: tuple[int, int]
    quality: float
    seed: int
    steps: int
    setting: tuple[tuple[str, float | None], ...]

    @property
    def label(self) -> str:
        """The setting as "name value, ...", None as the encoder's choice."""
        return ", ".join(
            f"{name.replace('_', ' ')} {'encoder' if value is None else f'{value:g}'}"
            for name, value in self.setting
        )


def centre_crop(photo: Path, height: int, width: int) -> torch.Tensor:
    """The photo's centre height x width pixels as 3 x H x W floats in [0, 1]."""
    pixels = np.asarray(read_image(photo.read_bytes()).pixels)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise SystemExit(f"{photo}: an RGB photo is needed")
    if pixels.shape[0] < height or pixels.shape[1] < width:
        raise SystemExit(f"{photo}: smaller than the {height}x{width} crop")
    top, left = (pixels.shape[0] - height) // 2, (pixels.shape[1] - width) // 2
    crop = pixels[top : top + height, left : left + width]
    return torch.from_numpy(crop.copy()).permute(2, 0, 1).float() / 255


@dataclass(frozen=True)
class Result:
    """A fit's outcome: the latents' and the networks' real bpp, the quantized model's PSNR
    and loss, the estimated loss after each trial step count, and the fit's seconds."""

    fit: Fit
    bpp: float
    networks: float
    psnr: float
    loss: float
    trials: dict[int, float]
    seconds: float


def run(fit: Fit, trials: tuple[int, ...] = ()) -> Result:
    """Fit one crop on one thread, scoring it after each of ``trials`` steps, and quantize
    its networks as the encoder does (a grey crop as one channel)."""
    torch.set_num_threads(1)
    image = centre_crop(fit.photo, *fit.crop)
    grey = is_grey(image.permute(1, 2, 0).numpy())
    if grey:
        image = image[:1]
    lam = quality_lambda(fit.quality)
    options = dict(fit.setting)
    step = options.pop("latent_step") or quality_latent_step(fit.quality)
    betas = (options.pop("adam_beta1"), options.pop("adam_beta2"))
    grid_fitting, idle_check = options.pop("grid_fitting"), options.pop("idle_check")
    sweeps = options.pop("refine_sweeps")
    sweeps = refine_sweeps(fit.steps) if sweeps is None else int(sweeps)
    encoder = fit_options(fit.steps)
    if grid_fitting is None:
        network_grids = encoder.network_grids
    else:
        network_grids = overfit_coding.rounding_grids if grid_fitting else None
    if idle_check is None:
        idle = {"idle_grids": encoder.idle_grids, "idle_check": encoder.idle_check}
    else:
        idle = {
            "idle_grids": overfit_coding.drop_idle_grids if idle_check else None,
            "idle_check": int(idle_check),
        }
    shape = model_shape(*fit.crop, grey)
    widths = {name: int(options.pop(name) or getattr(shape, name)) for name in WIDTHS}
    shape = dataclasses.replace(shape, **widths)
    model = overfit.OverfitModel(*fit.crop, shape, seed=fit.seed, latent_step=step)
    start = time.perf_counter()
    with reused_heap():  # as the encoder fits
        settings = overfit.FitOptions(betas=betas, network_grids=network_grids, **idle, **options)
        fitting = overfit.Fitting(model, image, lam, fit.steps, settings, seed=fit.seed)
        scores = {}
        for trial in sorted(trials):
            while fitting.taken < min(trial, fit.steps):
                fitting.step()
            scores[trial] = fitting.loss()
        fitting.finish()
        steps = overfit_coding.quantize_for_coding(model, image, lam)
        overfit_refine.refine_latents(model, image, lam, sweeps)
    seconds = time.perf_counter() - start
    psnr = overfit.evaluate(model, image).psnr
    pixels = fit.crop[0] * fit.crop[1]
    networks = len(overfit_coding.encode_parameters(model, steps)) * 8 / pixels
    latents = overfit_coding.encode_latents(overfit_coding.latent_integers(model), model.arm)
    bpp = len(latents) * 8 / pixels
    loss = bpp + networks + lam * 255**2 * 10 ** (-psnr / 10)
    return Result(fit, bpp, networks, psnr, loss, scores, seconds)


def trial_picks(results: list[Result]) -> list[str]:
    """For each crop, quality and setting fitted from two seeds or more, and each trial step
    count: the seed the trial's scores pick and its final loss over the best seed's and
    under the seeds' mean."""
    groups: dict[tuple[float, str, str], list[Result]] = {}
    for result in results:
        fit = result.fit
        groups.setdefault((fit.quality, fit.label, fit.photo.stem), []).append(result)
    lines = []
    for (quality, label, photo), group in groups.items():
        if len(group) < 2:
            continue
        best = min(group, key=lambda r: r.loss)
        mean = sum(r.loss for r in group) / len(group)
        for trial in sorted(group[0].trials):
            picked = min(group, key=lambda r: r.trials[trial])
            lines.append(
                f"quality {quality:g}, {label}: {photo}: step {trial} picks seed "
                f"{picked.fit.seed} (best: seed {best.fit.seed}), final loss "
                f"{picked.loss / best.loss - 1:+.2%} over the best, "
                f"{picked.loss / mean - 1:+.2%} against the mean"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--photos", nargs="+", default=["plasma-ColorfulCups", "lomiri-Dragonfly_by_Bolly"]
    )
    parser.add_argument("--folder", type=Path, default=ROOT / "data/photos/validation")
    parser.add_argument("--crop", type=int, nargs=2, default=(256, 384), metavar=("H", "W"))
    parser.add_argument("--qualities", type=float, nargs="+", default=[4.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=300)
    for name, default in DEFAULTS.items():
        parser.add_argument(
            f"--{name.replace('_', '-')}s", type=float, nargs="+", default=[default]
        )
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--trials", type=int, nargs="+", default=[], metavar="STEPS")
    args = parser.parse_args()
    if any(trial < 1 for trial in args.trials):
        raise SystemExit("--trials: step counts are 1 or more")
    photos = [args.folder / f"{name}.png" for name in args.photos]
    for photo in photos:
        if not photo.is_file():
            raise SystemExit(f"{photo} is missing: run scripts/data/photos.py first")
    settings = list(itertools.product(*(getattr(args, f"{name}s") for name in DEFAULTS)))
    fits = [
        Fit(
            photo,
            tuple(args.crop),
            quality,
            seed,
            args.steps,
            tuple(zip(DEFAULTS, values, strict=True)),
        )
        for quality, values, photo, seed in itertools.product(
            args.qualities, settings, photos, args.seeds
        )
    ]
    totals: dict[tuple[float, str], float] = {}
    results = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for result in pool.map(run, fits, itertools.repeat(tuple(args.trials))):
            fit = result.fit
            key = (fit.quality, fit.label)
            totals[key] = totals.get(key, 0.0) + result.loss
            results.append(result)
            print(
                f"quality {fit.quality:g}, {fit.label}: {fit.photo.stem} seed {fit.seed}: "
                f"{result.bpp:.4f} + {result.networks:.4f} bpp, {result.psnr:.2f} dB, "
                f"loss {result.loss:.4f}, {result.seconds:.0f} s"
                + "".join(f", step {k} {v:.4f}" for k, v in result.trials.items()),
                flush=True,
            )
    for (quality, setting), total in totals.items():
        print(f"quality {quality:g}, {setting}: summed loss {total:.3f}")
    for line in trial_picks(results):
        print(line)


if __name__ == "__main__":
    main()
