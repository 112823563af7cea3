"""Residual vector quantisation: each codebook quantises what the previous ones left."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ResidualVQ(nn.Module):
    """``count`` codebooks of ``bins`` vectors of ``dimension``, used in order."""

    def __init__(self, count: int, bins: int, dimension: int) -> None:
        super().__init__()
        self.register_buffer("codebooks", torch.zeros(count, bins, dimension))

    @property
    def count(self) -> int:
        return self.codebooks.shape[0]

    @property
    def bins(self) -> int:
        return self.codebooks.shape[1]

    def encode(self, x: torch.Tensor, count: int) -> torch.Tensor:
        """Codes (count, B, T) of embeddings (B, dimension, T), nearest vector first."""
        residual = x.transpose(1, 2).reshape(-1, x.shape[1])
        codes = []
        for codebook in self.codebooks[:count]:
            similarity = -(
                residual.pow(2).sum(1, keepdim=True)
                - 2 * residual @ codebook.t()
                + codebook.t().pow(2).sum(0, keepdim=True)
            )
            index = similarity.max(dim=-1).indices
            residual = residual - F.embedding(index, codebook)
            codes.append(index.view(x.shape[0], x.shape[2]))
        return torch.stack(codes)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Embeddings (B, dimension, T) of codes (count, B, T)."""
        total = torch.zeros((), device=codes.device)
        for codebook, index in zip(self.codebooks, codes, strict=False):
            total = total + F.embedding(index, codebook)
        return total.transpose(1, 2)
