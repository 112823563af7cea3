"""Gaussian conditional entropy model: y ~ N(mean, scale) per element, scales from a table."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from nccli.entropy import coder, tables


class GaussianConditional(nn.Module):
    """Likelihoods for training and table-driven coding for compression.

    Scales are mapped to an index into ``scale_table`` (the smallest table scale at least as
    large, like CompressAI); the index selects an integer pmf row built with basic IEEE
    operations, so the tables are identical on every machine.
    """

    def __init__(
        self,
        scale_table: list[float] | None = None,
        scale_bound: float = 0.11,
        likelihood_bound: float = 1e-9,
    ) -> None:
        super().__init__()
        values = tables.scale_table() if scale_table is None else np.asarray(scale_table)
        if len(values) < 2 or (np.diff(values) <= 0).any() or values[0] <= 0:
            raise ValueError("scale_table must be positive and strictly increasing")
        self.register_buffer("scale_table", torch.tensor(values, dtype=torch.float64))
        self.scale_bound = scale_bound
        self.likelihood_bound = likelihood_bound
        self._table: tables.PmfTable | None = None

    @property
    def table(self) -> tables.PmfTable:
        """Integer pmf rows, one per table scale, built once from scale_table."""
        if self._table is None:
            self._table = tables.gaussian_table(self.scale_table.cpu().numpy())
        return self._table

    def quantize(
        self, y: torch.Tensor, noise: bool, means: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Additive uniform noise for training, rounding (around the means) otherwise."""
        if noise:
            return y + torch.empty_like(y).uniform_(-0.5, 0.5)
        if means is None:
            return torch.round(y)
        return torch.round(y - means) + means

    def likelihood(
        self, y_hat: torch.Tensor, scales: torch.Tensor, means: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Probability mass of each element's unit bin under N(means, scales)."""
        values = y_hat - means if means is not None else y_hat
        scales = torch.clamp(scales, min=self.scale_bound)
        values = torch.abs(values)
        upper = _standard_normal_cdf((0.5 - values) / scales)
        lower = _standard_normal_cdf((-0.5 - values) / scales)
        return torch.clamp(upper - lower, min=self.likelihood_bound)

    def indexes(self, scales: torch.Tensor) -> torch.Tensor:
        """Row of the table for each scale: the first table scale that is >= it."""
        table = self.scale_table.to(scales.device, torch.float64)
        bounded = torch.clamp(scales.to(torch.float64), min=self.scale_bound)
        index = torch.searchsorted(table, bounded.reshape(-1).contiguous())
        return torch.clamp(index, max=len(table) - 1).reshape(scales.shape)

    def compress(
        self, y: torch.Tensor, indexes: torch.Tensor, means: torch.Tensor | None = None
    ) -> bytes:
        centred = y - means if means is not None else y
        symbols = torch.round(centred).to(torch.int64).cpu().numpy()
        return coder.encode(symbols, indexes.cpu().numpy(), self.table)

    def decompress(
        self, data: bytes, indexes: torch.Tensor, means: torch.Tensor | None = None
    ) -> torch.Tensor:
        symbols = coder.decode(data, indexes.cpu().numpy(), self.table)
        values = torch.from_numpy(symbols).to(indexes.device, torch.float32)
        return values + means if means is not None else values


def _standard_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.erfc(-x / 2**0.5)
