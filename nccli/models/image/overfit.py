"""An image model fitted to one image at encode time (Cool-chic / C3 style): no training data.

The image is represented by latent grids at resolutions 1, 1/2, ..., 1/2**(grids-1) of its
own. An autoregressive model (ARM), shared by all grids, predicts each latent's Laplace
distribution (mean, scale) from its causal neighbours in the same grid (the 12 that precede
it in raster order inside a 5x5 window): that is the entropy model. The grids are upsampled
to full resolution (bicubic), stacked, and a small synthesis network of 1x1 and 3x3
convolutions turns them into RGB. Fitting minimises rate + lambda * 255^2 * MSE over the
latents and both networks: first with additive uniform noise in place of quantization, then
with straight-through rounding (the published methods' two phases).

Everything an entropy decoder depends on (the ARM) is a stack of 1x1 convolutions over
gathered contexts, so it can run on nccli.models.exact's integer path.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

#: Raster-causal neighbours inside a 5x5 window: the two rows above, two to the left.
CONTEXT = tuple((dy, dx) for dy in (-2, -1, 0) for dx in range(-2, 3) if (dy, dx) < (0, 0))
#: Smallest Laplace scale, so that no probability underflows.
MIN_SCALE = 0.01
#: Latents are clipped to this magnitude (the entropy coder's alphabet is bounded).
LATENT_LIMIT = 64


@dataclass(frozen=True)
class OverfitShape:
    """Sizes of an overfitted model: grid count, ARM and synthesis widths."""

    grids: int = 7
    arm_hidden: int = 16
    synthesis_hidden: int = 24

    @property
    def downsampling(self) -> int:
        """The factor the image sides are padded to: the coarsest grid's."""
        return 1 << (self.grids - 1)


class OverfitModel(nn.Module):
    """Latent grids for an H x W image with the ARM and synthesis networks."""

    def __init__(
        self, height: int, width: int, shape: OverfitShape = OverfitShape(), seed: int = 0
    ) -> None:
        """Latents start at zero; the networks' initial weights are drawn from ``seed``."""
        super().__init__()
        self.shape = shape
        self.size = (height, width)
        self.latents = nn.ParameterList(
            nn.Parameter(torch.zeros(1, 1, math.ceil(height / 2**i), math.ceil(width / 2**i)))
            for i in range(shape.grids)
        )
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.arm = _arm(shape.arm_hidden)
            self.synthesis = _synthesis(shape.grids, shape.synthesis_hidden)

    def forward(
        self, quantize: Callable[[torch.Tensor], torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(the image, 3 x H x W in [0, 1] before clamping; the total rate in bits) with the
        latents passed through ``quantize``."""
        latents = [quantize(latent.clamp(-LATENT_LIMIT, LATENT_LIMIT)) for latent in self.latents]
        bits = sum(latent_bits(latent, self.arm) for latent in latents)
        return self.synthesize(latents), bits

    def synthesize(self, latents: list[torch.Tensor]) -> torch.Tensor:
        """The image from (quantized) latent grids."""
        height, width = self.size
        upsampled = [
            latent if latent.shape[-2:] == (height, width)
            else F.interpolate(latent, size=(height, width), mode="bicubic", align_corners=False)
            for latent in latents
        ]  # fmt: skip
        return self.synthesis(torch.cat(upsampled, dim=1))[0] + 0.5


def _arm(hidden: int) -> nn.Sequential:
    """Context -> (mean, log scale): 1x1 convolutions over the gathered neighbours."""
    return nn.Sequential(
        nn.Conv2d(len(CONTEXT), hidden, 1), nn.ReLU(),
        nn.Conv2d(hidden, hidden, 1), nn.ReLU(),
        nn.Conv2d(hidden, 2, 1),
    )  # fmt: skip


def _synthesis(grids: int, hidden: int) -> nn.Sequential:
    """Stacked upsampled grids -> RGB."""
    return nn.Sequential(
        nn.Conv2d(grids, hidden, 1), nn.ReLU(),
        nn.Conv2d(hidden, hidden, 1), nn.ReLU(),
        nn.Conv2d(hidden, 3, 3, padding=1, padding_mode="replicate"),
    )  # fmt: skip


def contexts(latent: torch.Tensor) -> torch.Tensor:
    """Each position's causal neighbours (zero outside the grid): 1 x len(CONTEXT) x h x w."""
    padded = F.pad(latent, (2, 2, 2, 0))
    height, width = latent.shape[-2:]
    return torch.cat(
        [padded[..., 2 + dy : 2 + dy + height, 2 + dx : 2 + dx + width] for dy, dx in CONTEXT],
        dim=1,
    )


def laplace_parameters(latent: torch.Tensor, arm: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """The ARM's (mean, scale) for every position of one grid."""
    mean, log_scale = arm(contexts(latent)).chunk(2, dim=1)
    return mean, torch.exp(log_scale).clamp(min=MIN_SCALE)


def latent_bits(latent: torch.Tensor, arm: nn.Module) -> torch.Tensor:
    """-log2 of the probability of the (quantized or noisy) latent values under the ARM's
    Laplace distributions, integrated over each value's unit interval."""
    mean, scale = laplace_parameters(latent, arm)
    centred = latent - mean
    probability = _laplace_cdf(centred + 0.5, scale) - _laplace_cdf(centred - 0.5, scale)
    return -torch.log2(probability.clamp(min=2**-30)).sum()


def _laplace_cdf(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return 0.5 + 0.5 * torch.sign(x) * -torch.expm1(-x.abs() / scale)


def with_noise(x: torch.Tensor) -> torch.Tensor:
    """Additive uniform noise in [-0.5, 0.5): the differentiable stand-in for rounding."""
    return x + torch.rand_like(x) - 0.5


def rounded(x: torch.Tensor) -> torch.Tensor:
    """Rounding with the identity's gradient (straight-through)."""
    return x + (torch.round(x) - x).detach()


@dataclass
class FitReport:
    """Where a fitting step stands: bits per pixel (estimated) and PSNR of the rounded model."""

    step: int
    bpp: float
    psnr: float


def fit(
    model: OverfitModel,
    image: torch.Tensor,
    lam: float,
    steps: int,
    *,
    noise_share: float = 0.7,
    learning_rate: float = 1e-2,
    seed: int = 0,
    on_report: Callable[[FitReport], None] = lambda report: None,
    report_every: int = 100,
) -> FitReport:
    """Fit ``model`` to ``image`` (3 x H x W in [0, 1]) minimising bpp + lam * 255^2 * MSE:
    ``noise_share`` of the steps with noisy latents, the rest with straight-through rounding,
    the learning rate decaying to zero along a cosine. Deterministic for a seed on one
    device. Returns the final rounded model's report."""
    torch.manual_seed(seed)
    pixels = image.shape[-2] * image.shape[-1]
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / max(steps, 1)))
    )
    for step in range(steps):
        quantize = with_noise if step < noise_share * steps else rounded
        decoded, bits = model(quantize)
        loss = bits / pixels + lam * 255**2 * F.mse_loss(decoded, image)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if (step + 1) % report_every == 0:
            on_report(evaluate(model, image, step + 1))
    return evaluate(model, image, steps)


@torch.no_grad()
def evaluate(model: OverfitModel, image: torch.Tensor, step: int = 0) -> FitReport:
    """Estimated bpp and PSNR (8-bit RGB) of the model with rounded latents."""
    decoded, bits = model(torch.round)
    pixels = image.shape[-2] * image.shape[-1]
    mse = F.mse_loss(torch.round(decoded.clamp(0, 1) * 255), torch.round(image * 255))
    psnr = float(10 * torch.log10(255**2 / mse)) if mse > 0 else math.inf
    return FitReport(step, float(bits) / pixels, psnr)
