"""mbt2018, the joint autoregressive and hierarchical prior of Minnen et al. (2018), and
cheng2020-anchor (Cheng et al. 2020), which keeps its entropy model with other transforms.

The mean and scale of each latent come from the hyperprior and from a masked 5x5
convolution over the latents already decoded (raster order), merged by 1x1 convolutions.
Layouts follow CompressAI's JointAutoregressiveHierarchicalPriors, so its checkpoints load.

Coding is sequential: latent position after latent position, the context, the merge and
the hyper-synthesis all run on the exact integer path (nccli.models.exact), because here
the means too decide the decoded symbols (they shape the context of later positions). The
symbols go through a range coder, which decodes in the order it encodes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nccli.entropy.coder import QueueDecoder, QueueEncoder
from nccli.models.exact import ExactSequential, cached
from nccli.models.image.hyperprior import MeanScaleHyperprior, Output
from nccli.models.layers import (
    ResidualBlock,
    ResidualBlockUpsample,
    ResidualBlockWithStride,
    channels_last,
    conv3x3,
    subpel_conv3x3,
)

KERNEL = 5
PAD = KERNEL // 2


class MaskedConv2d(nn.Conv2d):
    """A convolution that sees only the positions before the centre in raster order."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        mask = torch.ones_like(self.weight)
        _, _, height, width = mask.shape
        mask[:, :, height // 2, width // 2 :] = 0
        mask[:, :, height // 2 + 1 :] = 0
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, self.stride, self.padding)


class JointAutoregressiveHyperprior(MeanScaleHyperprior):
    """mbt2018: mbt2018-mean's transforms plus a causal context model."""

    def __init__(self, N: int = 192, M: int = 192) -> None:
        super().__init__(N, M)
        self.context_prediction = MaskedConv2d(M, 2 * M, KERNEL, padding=PAD)
        self.entropy_parameters = nn.Sequential(
            nn.Conv2d(M * 12 // 3, M * 10 // 3, 1), nn.LeakyReLU(inplace=True),
            nn.Conv2d(M * 10 // 3, M * 8 // 3, 1), nn.LeakyReLU(inplace=True),
            nn.Conv2d(M * 8 // 3, M * 6 // 3, 1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor, noise: bool = False) -> Output:
        y = self.g_a(x)
        z_hat = self.entropy_bottleneck.quantize(self.h_a(y), noise)
        y_hat = self.gaussian_conditional.quantize(y, noise)
        context = self.context_prediction(y_hat)
        merged = self.entropy_parameters(torch.cat([self.h_s(z_hat), context], 1))
        scales, means = merged.chunk(2, 1)
        y_rate = self.gaussian_conditional.quantize(y, noise, means)
        likelihoods = {
            "y": self.gaussian_conditional.likelihood(y_rate, scales, means),
            "z": self.entropy_bottleneck.likelihood(z_hat),
        }
        return Output(self.g_s(y_hat), likelihoods)

    @torch.no_grad()
    def compress(self, x: torch.Tensor, exact: bool = True) -> tuple[list[bytes], tuple[int, int]]:
        """Chunks [y, z] and the spatial shape of z (coding is always exact here)."""
        y = self.g_a(x)
        z = self.h_a(y)
        z_data = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_data, tuple(z.shape))
        encoder = QueueEncoder(self.gaussian_conditional.table)

        def code(h: int, w: int, rows: torch.Tensor, means: torch.Tensor):
            symbols = torch.round(y[:, :, h, w] - means)
            encoder.encode(symbols.to(torch.int64).cpu().numpy(), rows.cpu().numpy())
            return symbols

        self._sequential(z_hat, tuple(y.shape[-2:]), code)
        return [encoder.finish(), z_data], tuple(z.shape[-2:])

    @torch.no_grad()
    def decode_latents(
        self, chunks: list[bytes], shape: tuple[int, int], exact: bool = True
    ) -> torch.Tensor:
        channels = self.h_a[-1].out_channels
        z_hat = self.entropy_bottleneck.decompress(chunks[1], (1, channels, *shape))
        decoder = QueueDecoder(chunks[0], self.gaussian_conditional.table)

        def code(h: int, w: int, rows: torch.Tensor, means: torch.Tensor):
            symbols = decoder.decode(rows.cpu().numpy())
            return torch.from_numpy(symbols).to(means.device, torch.float32)

        y_shape = (shape[0] * 4, shape[1] * 4)
        y_hat = self._sequential(z_hat, y_shape, code)
        decoder.finish()
        return y_hat

    @torch.no_grad()
    def decompress(
        self, chunks: list[bytes], shape: tuple[int, int], exact: bool = True
    ) -> torch.Tensor:
        """The image in [0, 1] from compress()'s chunks and the shape of z."""
        return self.g_s(channels_last(self.decode_latents(chunks, shape))).clamp_(0, 1)

    def _sequential(self, z_hat: torch.Tensor, y_shape: tuple[int, int], code) -> torch.Tensor:
        """Walk the latent positions in raster order; ``code`` turns each position's rows
        and means into its integer symbols (by encoding or decoding them)."""
        hyper_stack, context, merge = cached(
            self, "context path", self._exact_context_path,
            self.h_s, self.context_prediction, self.entropy_parameters,
        )  # fmt: skip
        hyper = hyper_stack(z_hat)
        height, width = y_shape
        latent = self.context_prediction.in_channels
        y_hat = torch.zeros(1, latent, height + 2 * PAD, width + 2 * PAD, device=z_hat.device)
        for h in range(height):
            for w in range(width):
                window = y_hat[:, :, h : h + KERNEL, w : w + KERNEL]
                merged = merge(torch.cat([hyper[:, :, h : h + 1, w : w + 1], context(window)], 1))
                scales, means = merged[:, :, 0, 0].chunk(2, 1)
                rows = self.gaussian_conditional.indexes(scales)
                symbols = code(h, w, rows, means)
                y_hat[:, :, h + PAD, w + PAD] = symbols + means
        return y_hat[:, :, PAD : PAD + height, PAD : PAD + width]

    def _exact_context_path(self) -> tuple[ExactSequential, ExactSequential, ExactSequential]:
        """The hyper-synthesis, the masked context convolution (one window at a time) and
        the merge, on the exact path."""
        return (
            ExactSequential(self.h_s),
            ExactSequential(nn.Sequential(_unpadded(self.context_prediction))),
            ExactSequential(self.entropy_parameters),
        )


def _unpadded(masked: MaskedConv2d) -> nn.Conv2d:
    """The masked convolution as a plain one without padding, for one window at a time."""
    plain = nn.Conv2d(masked.in_channels, masked.out_channels, KERNEL).to(masked.weight.device)
    with torch.no_grad():
        plain.weight.copy_(masked.weight * masked.mask)
        plain.bias.copy_(masked.bias)
    return plain


class Cheng2020Anchor(JointAutoregressiveHyperprior):
    """cheng2020-anchor (Cheng et al. 2020): mbt2018's entropy model with residual-block
    transforms and sub-pixel upsampling; latent and hyper-latent both have N channels."""

    def __init__(self, N: int = 192, M: int | None = None) -> None:
        if M not in (None, N):
            raise ValueError(f"cheng2020-anchor has M = N, not N={N}, M={M}")
        super().__init__(N, N)
        leaky = nn.LeakyReLU
        self.g_a = nn.Sequential(
            ResidualBlockWithStride(3, N), ResidualBlock(N, N),
            ResidualBlockWithStride(N, N), ResidualBlock(N, N),
            ResidualBlockWithStride(N, N), ResidualBlock(N, N),
            conv3x3(N, N, stride=2),
        )  # fmt: skip
        self.h_a = nn.Sequential(
            conv3x3(N, N), leaky(inplace=True),
            conv3x3(N, N), leaky(inplace=True),
            conv3x3(N, N, stride=2), leaky(inplace=True),
            conv3x3(N, N), leaky(inplace=True),
            conv3x3(N, N, stride=2),
        )  # fmt: skip
        self.h_s = nn.Sequential(
            conv3x3(N, N), leaky(inplace=True),
            subpel_conv3x3(N, N, 2), leaky(inplace=True),
            conv3x3(N, N * 3 // 2), leaky(inplace=True),
            subpel_conv3x3(N * 3 // 2, N * 3 // 2, 2), leaky(inplace=True),
            conv3x3(N * 3 // 2, N * 2),
        )  # fmt: skip
        self.g_s = nn.Sequential(
            ResidualBlock(N, N), ResidualBlockUpsample(N, N),
            ResidualBlock(N, N), ResidualBlockUpsample(N, N),
            ResidualBlock(N, N), ResidualBlockUpsample(N, N),
            ResidualBlock(N, N), subpel_conv3x3(N, 3, 2),
        )  # fmt: skip
