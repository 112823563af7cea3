"""The factorized-prior and hyperprior image models of Ballé et al. (2018) and Minnen et al.
(2018): bmshj2018-factorized, bmshj2018-hyperprior and mbt2018-mean.

Torch modules only: the entropy models live in nccli.entropy, I/O and containers elsewhere.
``forward`` gives reconstructions and likelihoods for training and evaluation;
``compress`` / ``decompress`` turn an image tensor in [0, 1] into payload chunks and back.
Images must have sides divisible by ``downsampling``; the codec pads and crops.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nccli.entropy import FactorizedDensity, GaussianConditional
from nccli.models.exact import ExactSequential, cached
from nccli.models.layers import GDN, channels_last, conv, deconv


@dataclass
class Gains:
    """Per-channel scalings that set a variable-rate model's rate: y is coded as g_a(x) * y
    and decoded as y_hat * y_inverse; z likewise. Fixed-rate models use identity()."""

    y: torch.Tensor
    y_inverse: torch.Tensor
    z: torch.Tensor
    z_inverse: torch.Tensor

    @staticmethod
    def identity() -> Gains:
        one = torch.ones(())
        return Gains(one, one, one, one)


@dataclass
class Output:
    """What forward() returns: the reconstruction and each latent's likelihoods."""

    x_hat: torch.Tensor
    likelihoods: dict[str, torch.Tensor]


def analysis(channels: int, latent: int) -> nn.Sequential:
    return nn.Sequential(
        conv(3, channels), GDN(channels),
        conv(channels, channels), GDN(channels),
        conv(channels, channels), GDN(channels),
        conv(channels, latent),
    )  # fmt: skip


def synthesis(channels: int, latent: int) -> nn.Sequential:
    return nn.Sequential(
        deconv(latent, channels), GDN(channels, inverse=True),
        deconv(channels, channels), GDN(channels, inverse=True),
        deconv(channels, channels), GDN(channels, inverse=True),
        deconv(channels, 3),
    )  # fmt: skip


class FactorizedPrior(nn.Module):
    """bmshj2018-factorized: y = g_a(x) coded with a learned per-channel prior."""

    downsampling = 16

    def __init__(self, N: int = 128, M: int = 192) -> None:
        super().__init__()
        self.g_a = analysis(N, M)
        self.g_s = synthesis(N, M)
        self.entropy_bottleneck = FactorizedDensity(M)

    def forward(self, x: torch.Tensor, noise: bool = False) -> Output:
        y = self.g_a(x)
        y_hat = self.entropy_bottleneck.quantize(y, noise)
        return Output(self.g_s(y_hat), {"y": self.entropy_bottleneck.likelihood(y_hat)})

    def update_tables(self) -> None:
        """Build the integer coding tables of the learned prior (after training or loading)."""
        self.entropy_bottleneck.update_tables()

    @torch.no_grad()
    def compress(self, x: torch.Tensor) -> tuple[list[bytes], tuple[int, int]]:
        """One chunk and the spatial shape of y (the decoder needs no network output)."""
        y = self.g_a(x)
        return [self.entropy_bottleneck.compress(y)], tuple(y.shape[-2:])

    @torch.no_grad()
    def decompress(self, chunks: list[bytes], shape: tuple[int, int]) -> torch.Tensor:
        """The image in [0, 1] from compress()'s chunks and shape."""
        latent = self.g_a[-1].out_channels
        y_hat = self.entropy_bottleneck.decompress(chunks[0], (1, latent, *shape))
        return self.g_s(channels_last(y_hat)).clamp_(0, 1)


class ScaleHyperprior(nn.Module):
    """bmshj2018-hyperprior: a hyper-latent z predicts the scale of every element of y."""

    downsampling = 64

    def __init__(self, N: int = 128, M: int = 192) -> None:
        super().__init__()
        self.g_a = analysis(N, M)
        self.g_s = synthesis(N, M)
        self.h_a = nn.Sequential(
            conv(M, N, 3, 1), nn.ReLU(inplace=True),
            conv(N, N), nn.ReLU(inplace=True),
            conv(N, N),
        )  # fmt: skip
        self.h_s = nn.Sequential(
            deconv(N, N), nn.ReLU(inplace=True),
            deconv(N, N), nn.ReLU(inplace=True),
            conv(N, M, 3, 1), nn.ReLU(inplace=True),
        )  # fmt: skip
        self.entropy_bottleneck = FactorizedDensity(N)
        self.gaussian_conditional = GaussianConditional()

    def hyper_input(self, y: torch.Tensor) -> torch.Tensor:
        return torch.abs(y)

    def split(self, parameters: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Scales (and means, where the model predicts them) from h_s's output."""
        return parameters, None

    def predict_parameters(
        self, z_hat: torch.Tensor, exact: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Scales and means of y from the decoded z; exact=True computes h_s in integers,
        identically on every device (what compress and decompress use)."""
        if not exact:
            return self.split(self.h_s(z_hat))
        exact_h_s = cached(self, "h_s", lambda: ExactSequential(self.h_s), self.h_s)
        return self.split(exact_h_s(z_hat))

    def forward(self, x: torch.Tensor, noise: bool = False) -> Output:
        y = self.g_a(x)
        z = self.h_a(self.hyper_input(y))
        z_hat = self.entropy_bottleneck.quantize(z, noise)
        scales, means = self.predict_parameters(z_hat)
        y_hat = self.gaussian_conditional.quantize(y, noise, means)
        likelihoods = {
            "y": self.gaussian_conditional.likelihood(y_hat, scales, means),
            "z": self.entropy_bottleneck.likelihood(z_hat),
        }
        return Output(self.g_s(y_hat), likelihoods)

    def update_tables(self) -> None:
        self.entropy_bottleneck.update_tables()

    @torch.no_grad()
    def analyse(
        self, x: torch.Tensor, gains: Gains | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The latents y and z of an image, scaled by the gains, as compress codes them."""
        gains = gains or Gains.identity()
        y = self.g_a(x) * gains.y
        return y, self.h_a(self.hyper_input(y)) * gains.z

    @torch.no_grad()
    def compress(
        self, x: torch.Tensor, exact: bool = True, gains: Gains | None = None
    ) -> tuple[list[bytes], tuple[int, int]]:
        """Chunks [y, z] and the spatial shape of z.

        exact=False uses the float hyper-synthesis: only for measuring what the exact path
        costs, as such payloads decode correctly only where the floats happen to agree.
        """
        return self.compress_latents(*self.analyse(x, gains), exact, gains)

    @torch.no_grad()
    def compress_latents(
        self, y: torch.Tensor, z: torch.Tensor, exact: bool = True, gains: Gains | None = None
    ) -> tuple[list[bytes], tuple[int, int]]:
        """As compress, from latents y and z (analyse's, or refined ones)."""
        gains = gains or Gains.identity()
        z_data = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_data, tuple(z.shape))
        scales, means = self.predict_parameters(z_hat * gains.z_inverse, exact)
        indexes = self.gaussian_conditional.indexes(scales)
        return [self.gaussian_conditional.compress(y, indexes, means), z_data], tuple(z.shape[-2:])

    @torch.no_grad()
    def decode_latents(
        self,
        chunks: list[bytes],
        shape: tuple[int, int],
        exact: bool = True,
        gains: Gains | None = None,
    ) -> torch.Tensor:
        """The dequantized latents y_hat from compress()'s chunks and the shape of z."""
        gains = gains or Gains.identity()
        channels = self.h_a[-1].out_channels
        z_hat = self.entropy_bottleneck.decompress(chunks[1], (1, channels, *shape))
        scales, means = self.predict_parameters(z_hat * gains.z_inverse, exact)
        indexes = self.gaussian_conditional.indexes(scales)
        return self.gaussian_conditional.decompress(chunks[0], indexes, means)

    @torch.no_grad()
    def decompress(
        self,
        chunks: list[bytes],
        shape: tuple[int, int],
        exact: bool = True,
        gains: Gains | None = None,
    ) -> torch.Tensor:
        """The image in [0, 1] from compress()'s chunks and the shape of z."""
        gains = gains or Gains.identity()
        y_hat = self.decode_latents(chunks, shape, exact, gains)
        return self.g_s(channels_last(y_hat * gains.y_inverse)).clamp_(0, 1)


class MeanScaleHyperprior(ScaleHyperprior):
    """mbt2018-mean: the hyperprior predicts a mean and a scale for every element of y."""

    def __init__(self, N: int = 128, M: int = 192) -> None:
        super().__init__(N, M)
        self.h_a = nn.Sequential(
            conv(M, N, 3, 1), nn.LeakyReLU(inplace=True),
            conv(N, N), nn.LeakyReLU(inplace=True),
            conv(N, N),
        )  # fmt: skip
        self.h_s = nn.Sequential(
            deconv(N, M), nn.LeakyReLU(inplace=True),
            deconv(M, M * 3 // 2), nn.LeakyReLU(inplace=True),
            conv(M * 3 // 2, M * 2, 3, 1),
        )  # fmt: skip

    def hyper_input(self, y: torch.Tensor) -> torch.Tensor:
        return y

    def split(self, parameters: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        scales, means = parameters.chunk(2, 1)
        return scales, means

    def predict_parameters(
        self, z_hat: torch.Tensor, exact: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """As in ScaleHyperprior; on the exact path only the scales need exactness.

        Means shift the reconstruction, never the decoded symbols, so their half of the last
        layer runs in float on the exact hidden activations (half the exact work).
        """
        if not exact:
            return self.split(self.h_s(z_hat))
        hidden_stack, scale_stack = cached(self, "h_s scale path", self._exact_scale_path, self.h_s)
        hidden = hidden_stack(z_hat)
        last = self.h_s[-1]
        half = last.out_channels // 2
        means = F.conv2d(hidden, last.weight[half:], last.bias[half:], padding=last.padding)
        return scale_stack(hidden), means

    def _exact_scale_path(self) -> tuple[ExactSequential, ExactSequential]:
        """h_s up to its last layer, and the scale half of that layer, on the exact path."""
        last = self.h_s[-1]
        half = last.out_channels // 2
        scale_layer = nn.Conv2d(
            last.in_channels, half, last.kernel_size, last.stride, last.padding
        ).to(last.weight.device)
        with torch.no_grad():
            scale_layer.weight.copy_(last.weight[:half])
            scale_layer.bias.copy_(last.bias[:half])
        return ExactSequential(self.h_s[:-1]), ExactSequential(nn.Sequential(scale_layer))
