"""A variable-rate mean-scale hyperprior: mbt2018-mean with gain units (Cui et al. 2021).

One network covers a continuous range of rates. Each of ``levels`` rate levels has learned
per-channel gains that scale the latent y before quantization (and its inverse after), and
likewise for the hyper-latent z. A fractional level interpolates linearly between its two
neighbouring levels with single IEEE operations, so encoder and decoder derive bit-identical
gains (the hyper-synthesis input depends on them; see DESIGN.md, Determinism).
"""

from __future__ import annotations

import torch
from torch import nn

from nccli.models.exact import simulate
from nccli.models.image.hyperprior import Gains, MeanScaleHyperprior, Output

#: Gain ratio between neighbouring levels at initialisation (training moves them).
INITIAL_LEVEL_RATIO = 1.4
#: Rate-distortion trade-off of each level, as trained (CompressAI's MSE lambdas for its
#: qualities 1..8): the loss is lambda * 255^2 * MSE + bits per pixel.
LAMBDAS = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800)


def lambda_at(levels: torch.Tensor) -> torch.Tensor:
    """Lambdas at (fractional) levels, log-linear between the integer levels' LAMBDAS."""
    logs = torch.log(torch.tensor(LAMBDAS, device=levels.device))
    low = levels.floor().clamp(max=len(LAMBDAS) - 2).long()
    t = levels - low
    return torch.exp((1 - t) * logs[low] + t * logs[low + 1])


class GainedMeanScaleHyperprior(MeanScaleHyperprior):
    """mbt2018-mean transforms and entropy models with learned gains per rate level."""

    def __init__(self, N: int = 128, M: int = 192, levels: int = 8) -> None:
        super().__init__(N, M)
        if levels < 2:
            raise ValueError("a variable-rate model needs at least 2 levels")
        self.levels = levels
        steps = torch.arange(levels, dtype=torch.float32) - (levels - 1)
        initial = INITIAL_LEVEL_RATIO**steps
        self.gain = nn.Parameter(initial[:, None].repeat(1, M))
        self.inverse_gain = nn.Parameter((1 / initial)[:, None].repeat(1, M))
        self.hyper_gain = nn.Parameter(torch.ones(levels, N))
        self.hyper_inverse_gain = nn.Parameter(torch.ones(levels, N))

    def gains(self, level: torch.Tensor) -> Gains:
        """The gains at each (fractional) level of a batch, shaped (B, C, 1, 1).

        Levels are clamped to 0..levels-1; level l + t (0 <= t < 1) mixes
        (1 - t) * gains[l] + t * gains[l + 1], each step one correctly rounded float32
        operation (no fused or transcendental arithmetic), identical on every device.
        """
        level = level.to(self.gain.device, torch.float32).clamp(0, self.levels - 1)
        low = level.floor().clamp(max=self.levels - 2).long()
        t = (level - low)[:, None]

        def mix(table: torch.Tensor) -> torch.Tensor:
            return ((1 - t) * table[low] + t * table[low + 1])[:, :, None, None]

        return Gains(
            mix(self.gain), mix(self.inverse_gain),
            mix(self.hyper_gain), mix(self.hyper_inverse_gain),
        )  # fmt: skip

    def forward(self, x: torch.Tensor, level: torch.Tensor, noise: bool = True) -> Output:
        """Training and evaluation pass at a per-image level (B,).

        Rates come from noisy latents (noise=True) or rounded ones; the synthesis and the
        hyper-synthesis always see rounded latents (straight-through gradients), and the
        hyper-synthesis runs on the exact path's integer grids (simulated), so the model
        learns on the values that coding uses. The entropy part runs in float32 even under
        autocast.
        """
        gains = self.gains(level)
        y = self.g_a(x).float() * gains.y
        with torch.autocast(x.device.type, enabled=False):
            z = self.h_a(y).float() * gains.z
            z_hat = _straight_through(z, self.entropy_bottleneck.quantize(z, noise=False))
            scales, means = self.split(simulate(self.h_s, z_hat * gains.z_inverse))
            y_hat = _straight_through(y, self.gaussian_conditional.quantize(y, False, means))
            z_rate = self.entropy_bottleneck.quantize(z, noise) if noise else z_hat
            y_rate = self.gaussian_conditional.quantize(y, noise=True) if noise else y_hat
            likelihoods = {
                "y": self.gaussian_conditional.likelihood(y_rate, scales, means),
                "z": self.entropy_bottleneck.likelihood(z_rate),
            }
        return Output(self.g_s(y_hat * gains.y_inverse), likelihoods)


def _straight_through(x: torch.Tensor, rounded: torch.Tensor) -> torch.Tensor:
    """``rounded`` forward, the identity's gradient backward."""
    return x + (rounded - x).detach()
