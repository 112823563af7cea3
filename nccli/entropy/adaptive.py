"""Adaptive per-codebook tables for vector-quantiser codes.

Each codebook's table is learned from the codes already coded in the same stream: every
code starts with a count of PRIOR and gains WEIGHT each time it occurs. Encoder and decoder
update the counts after each payload with integers only, so their tables agree exactly and
nothing but the codes is sent. A payload is coded with nccli.entropy.coder, one table row per
codebook.
"""

from __future__ import annotations

import numpy as np

from nccli.entropy import coder
from nccli.entropy.tables import PmfTable, quantize
from nccli.errors import InvalidInputError

#: The count every code starts with.
PRIOR = 1
#: The count a code gains each time it is coded.
WEIGHT = 8


class CodeTables:
    """The adaptive tables of ``codebooks`` codebooks of ``bins`` codes each."""

    def __init__(self, codebooks: int, bins: int) -> None:
        self.counts = np.full((codebooks, bins), PRIOR, dtype=np.int64)

    def table(self) -> PmfTable:
        """The current tables: one row per codebook."""
        totals = self.counts.sum(axis=1, keepdims=True)
        return quantize(list(self.counts / totals), [0] * len(self.counts))

    def encode(self, codes: np.ndarray) -> bytes:
        """Code (codebooks, frames) codes with the current tables, then learn from them."""
        data = coder.encode(codes, self._rows(codes.shape[1]), self.table())
        self._learn(codes)
        return data

    def decode(self, data: bytes, frames: int) -> np.ndarray:
        """The (codebooks, frames) codes of one payload, then learn from them."""
        codes = coder.decode(data, self._rows(frames), self.table())
        bins = self.counts.shape[1]
        if codes.min(initial=0) < 0 or codes.max(initial=0) >= bins:
            raise InvalidInputError(f"codes outside the codebooks' {bins} entries")
        self._learn(codes)
        return codes

    def _rows(self, frames: int) -> np.ndarray:
        return np.repeat(np.arange(len(self.counts))[:, None], frames, axis=1)

    def _learn(self, codes: np.ndarray) -> None:
        bins = self.counts.shape[1]
        for counts, row in zip(self.counts, codes, strict=True):
            counts += WEIGHT * np.bincount(row, minlength=bins)
