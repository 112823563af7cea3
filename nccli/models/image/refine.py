"""Encode-time refinement of a mean-scale hyperprior's latents for one image.

The analysis network maps every image to latents that are good on average over its training
photos, not the best for the image at hand (the amortization gap). Refinement optimises the
latents y and z themselves for this image's rate + lambda * distortion through the fixed
decoder, so the decoder and the bitstream stay as they are (Yang, Bamler & Mandt, "Improving
Inference for Neural Image Compression", 2020). Rounding is relaxed by stochastic Gumbel
annealing: each latent is a Gumbel-softmax mix of the integers below and above it (around
its mean, as coding rounds), with a temperature that falls as the steps go on, so the
relaxation hardens into rounding. The best hard-rounded latents seen (the analysis
network's included) are kept, so refinement never returns worse estimated latents than it
started from. The steps run inside ``reused_heap()`` (a step takes 0.73-0.80 times as long
at 768x512 on 2 CPU cores: scripts/bench_heap.py). Measurements: docs/notes/nc-photo.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from nccli.models import heap
from nccli.models.exact import simulate
from nccli.models.image.hyperprior import Gains, MeanScaleHyperprior
from nccli.models.layers import channels_last

#: Adam's step size on the latents is min(LEARNING_RATE, STEP_BUDGET / steps): a short run
#: takes large steps, a long one small steps that settle closer (docs/notes/nc-photo.md).
LEARNING_RATE = 2e-2
STEP_BUDGET = 1.5
#: The relaxation's temperature is min(START, exp(-DECAY * progress)), progress in 0..1.
TEMPERATURE_START = 0.3
TEMPERATURE_DECAY = 2.0
#: How many times over a run the hard-rounded latents are scored to keep the best.
CHECKPOINTS = 10

#: Receives the steps done and the last step's relaxed bits per pixel and PSNR.
OnStep = Callable[[int, float, float], None]


def soft_round(v: torch.Tensor, temperature: float, generator: torch.Generator) -> torch.Tensor:
    """A Gumbel-softmax sample between floor(v) and floor(v) + 1, differentiable in v.

    Each side's logit is -atanh of v's distance to it over the temperature, so the nearer
    integer is the likelier one and the sample tends to rounding as the temperature falls.
    """
    low = torch.floor(v)
    distance = (v - low).clamp(1e-5, 1 - 1e-5)
    logits = torch.stack((-torch.atanh(distance), -torch.atanh(1 - distance)), -1)
    uniform = torch.rand(logits.shape, generator=generator, device=v.device)
    gumbel = -torch.log((-torch.log(uniform.clamp(1e-20, 1.0))).clamp_min(1e-20))
    weights = torch.softmax((logits / temperature + gumbel), -1)
    return low + weights[..., 1]


def learning_rate(steps: int) -> float:
    """Adam's step size for a run of ``steps`` steps."""
    return min(LEARNING_RATE, STEP_BUDGET / max(steps, 1))


def refine_latents(
    model: MeanScaleHyperprior,
    x: torch.Tensor,
    y: torch.Tensor,
    z: torch.Tensor,
    gains: Gains,
    lam: float,
    steps: int,
    valid: tuple[int, int] | None = None,
    seed: int = 0,
    on_step: OnStep | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents (y, z), gains applied, that code ``x`` (1, 3, H, W) at an estimated
    lambda * 255^2 * MSE + bits per pixel no higher than the starting ones': the best
    hard-rounded latents of ``steps`` steps, the starting ones included.

    Distortion counts only the top-left ``valid`` (height, width) of ``x`` (the rest is
    padding the decoder crops away); rate counts every latent. Deterministic for a seed on
    one device. The model's parameters are left untouched (no gradients reach them).
    """
    height, width = valid or x.shape[-2:]
    target = x[..., :height, :width]
    generator = torch.Generator(x.device).manual_seed(seed)
    medians = model.entropy_bottleneck.medians().reshape(1, -1, 1, 1)

    def loss(y: torch.Tensor, z: torch.Tensor, temperature: float | None) -> tuple:
        """The objective, its bits per pixel and MSE; hard rounding when no temperature."""

        if temperature is None:
            z_hat = model.entropy_bottleneck.quantize(z, noise=False)
        else:
            z_hat = soft_round(z - medians, temperature, generator) + medians
        scales, means = model.split(simulate(model.h_s, z_hat * gains.z_inverse))
        if temperature is None:
            y_hat = model.gaussian_conditional.quantize(y, False, means)
        else:
            y_hat = soft_round(y - means, temperature, generator) + means
        bits = -torch.log2(model.gaussian_conditional.likelihood(y_hat, scales, means)).sum()
        bits = bits - torch.log2(model.entropy_bottleneck.likelihood(z_hat)).sum()
        x_hat = model.g_s(channels_last(y_hat * gains.y_inverse))[..., :height, :width]
        mse = torch.mean((x_hat - target) ** 2)
        bpp = bits / (height * width)
        return lam * 255**2 * mse + bpp, bpp, mse

    def score(y: torch.Tensor, z: torch.Tensor) -> float:
        with torch.no_grad():
            return float(loss(y, z, None)[0])

    best = (score(y, z), y, z)
    y, z = y.detach().clone().requires_grad_(True), z.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([y, z], lr=learning_rate(steps))
    every = max(1, steps // CHECKPOINTS)
    with heap.reused_heap():  # every step frees and allocates the same large tensors
        for step in range(steps):
            temperature = min(TEMPERATURE_START, math.exp(-TEMPERATURE_DECAY * step / steps))
            total, bpp, mse = loss(y, z, temperature)
            optimizer.zero_grad(set_to_none=True)
            y.grad, z.grad = torch.autograd.grad(total, [y, z])
            optimizer.step()
            if (step + 1) % every == 0 or step + 1 == steps:
                current = score(y, z)
                if current < best[0]:
                    best = (current, y.detach().clone(), z.detach().clone())
            if on_step is not None:
                on_step(step + 1, bpp.item(), -10 * math.log10(max(mse.item(), 1e-10)))
    return best[1], best[2]
