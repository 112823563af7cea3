"""The learned factorized prior of Ballé et al. (2018): a per-channel univariate density.

Each channel's cumulative distribution is a small monotone network (matrices kept positive
with softplus, tanh-gated factors). For coding, the density is evaluated once on integer bins
around each channel's median and quantized into an integer table that is stored with the
weights, so decoders never recompute it from floats.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nccli.entropy import coder, tables


class FactorizedDensity(nn.Module):
    def __init__(
        self,
        channels: int,
        filters: tuple[int, ...] = (3, 3, 3, 3),
        init_scale: float = 10.0,
        tail_mass: float = 1e-9,
        likelihood_bound: float = 1e-9,
    ) -> None:
        super().__init__()
        self.channels = channels
        self.tail_mass = tail_mass
        self.likelihood_bound = likelihood_bound
        widths = (1, *filters, 1)
        scale = init_scale ** (1 / (len(filters) + 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(filters) + 1):
            init = float(np.log(np.expm1(1 / scale / widths[i + 1])))
            self.matrices.append(
                nn.Parameter(torch.full((channels, widths[i + 1], widths[i]), init))
            )
            self.biases.append(nn.Parameter(torch.rand(channels, widths[i + 1], 1) - 0.5))
            if i < len(filters):
                self.factors.append(nn.Parameter(torch.zeros(channels, widths[i + 1], 1)))
        target = float(np.log(2 / tail_mass - 1))
        self.quantiles = nn.Parameter(
            torch.tensor([-init_scale, 0.0, init_scale]).repeat(channels, 1, 1)
        )
        self.register_buffer("target", torch.tensor([-target, 0.0, target]))
        self.register_buffer("table_counts", torch.zeros(0, dtype=torch.int32))
        self.register_buffer("table_lengths", torch.zeros(0, dtype=torch.int32))
        self.register_buffer("table_offsets", torch.zeros(0, dtype=torch.int32))

    def logits_cumulative(self, x: torch.Tensor, stop_gradient: bool = False) -> torch.Tensor:
        """Logit of the CDF at x, for x of shape (channels, 1, n)."""
        logits = x
        for i, matrix in enumerate(self.matrices):
            matrix = matrix.detach() if stop_gradient else matrix
            bias = self.biases[i].detach() if stop_gradient else self.biases[i]
            logits = torch.matmul(F.softplus(matrix), logits) + bias
            if i < len(self.factors):
                factor = self.factors[i].detach() if stop_gradient else self.factors[i]
                logits = logits + torch.tanh(factor) * torch.tanh(logits)
        return logits

    def likelihood(self, y_hat: torch.Tensor) -> torch.Tensor:
        """Mass of each element's unit bin; y_hat is (N, C, ...)."""
        shape = y_hat.shape
        values = y_hat.transpose(0, 1).reshape(self.channels, 1, -1)
        lower = self.logits_cumulative(values - 0.5)
        upper = self.logits_cumulative(values + 0.5)
        sign = -torch.sign(lower + upper).detach()
        mass = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))
        mass = torch.clamp(mass, min=self.likelihood_bound)
        return mass.reshape(shape[1], shape[0], *shape[2:]).transpose(0, 1)

    def quantile_loss(self) -> torch.Tensor:
        """Auxiliary loss that moves `quantiles` to the tails and median of each channel."""
        logits = self.logits_cumulative(self.quantiles, stop_gradient=True)
        return torch.abs(logits - self.target).sum()

    def medians(self) -> torch.Tensor:
        return self.quantiles[:, 0, 1].detach()

    @torch.no_grad()
    def update_tables(self) -> None:
        """Quantize each channel's density into the integer table stored with the weights.

        Row c covers median_c + k for the integers k between the channel's tail quantiles.
        """
        medians = self.medians()
        low = torch.ceil(medians - self.quantiles[:, 0, 0]).clamp(min=0)
        high = torch.ceil(self.quantiles[:, 0, 2] - medians).clamp(min=0)
        half = int(min(max(low.max().item(), high.max().item()), (tables.MAX_ROW - 2) // 2))
        steps = torch.arange(-half, half + 1, dtype=medians.dtype, device=medians.device)
        grid = (medians[:, None] + steps[None, :])[:, None, :]
        lower = self.logits_cumulative(grid - 0.5, stop_gradient=True)
        upper = self.logits_cumulative(grid + 0.5, stop_gradient=True)
        sign = -torch.sign(lower + upper)
        pmf = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))[:, 0, :]
        pmfs, offsets = [], []
        for channel in range(self.channels):
            start, stop = half - int(low[channel]), half + int(high[channel]) + 1
            pmfs.append(pmf[channel, start:stop].double().cpu().numpy())
            offsets.append(-int(low[channel]))
        table = tables.quantize(pmfs, offsets)
        self.table_counts = torch.from_numpy(table.counts.astype(np.int32))
        self.table_lengths = torch.from_numpy(table.lengths.astype(np.int32))
        self.table_offsets = torch.from_numpy(table.offsets.astype(np.int32))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[override]
        # The tables' sizes depend on the trained density: take them from the checkpoint.
        for name in ("table_counts", "table_lengths", "table_offsets"):
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @property
    def table(self) -> tables.PmfTable:
        if self.table_counts.numel() == 0:
            raise RuntimeError("call update_tables() before coding")
        return tables.PmfTable(
            self.table_counts.cpu().numpy().astype(np.int64),
            self.table_lengths.cpu().numpy().astype(np.int64),
            self.table_offsets.cpu().numpy().astype(np.int64),
        )

    def quantize(self, y: torch.Tensor, noise: bool) -> torch.Tensor:
        """Uniform noise for training; otherwise round(y - median) + median per channel."""
        if noise:
            return y + torch.empty_like(y).uniform_(-0.5, 0.5)
        medians = self._broadcast_medians(y.dim())
        return torch.round(y - medians) + medians

    def compress(self, y: torch.Tensor) -> bytes:
        """Code the integers round(y - median) of y (N, C, ...) with each channel's row."""
        medians = self._broadcast_medians(y.dim())
        symbols = torch.round(y - medians).to(torch.int64).cpu().numpy()
        return coder.encode(symbols, self._rows(tuple(y.shape)), self.table)

    def decompress(self, data: bytes, shape: tuple[int, ...]) -> torch.Tensor:
        """The dequantized values symbols + median, of the given (N, C, ...) shape."""
        symbols = coder.decode(data, self._rows(shape), self.table)
        medians = self._broadcast_medians(len(shape))
        return torch.from_numpy(symbols).to(medians.device, medians.dtype) + medians

    def _broadcast_medians(self, dims: int) -> torch.Tensor:
        return self.medians().reshape(1, -1, *([1] * (dims - 2)))

    def _rows(self, shape: tuple[int, ...]) -> np.ndarray:
        channels = np.arange(shape[1]).reshape(1, -1, *([1] * (len(shape) - 2)))
        return np.broadcast_to(channels, shape)
