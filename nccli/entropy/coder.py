"""Coding integer symbols with per-symbol table rows through constriction's coders.

encode/decode use the ANS coder (a stack: all rows known up front); QueueEncoder and
QueueDecoder use the range coder (a queue), for autoregressive models whose rows become
known only as symbols are decoded.

Symbols sharing a table row are coded together with one categorical model. A symbol outside
its row's range is coded as the row's escape bin, and its value follows in a side stream of
zigzag varints, so no value is ever clipped.

Payload: varint byte length of the coder's words, the words (little-endian uint32), the escapes.
"""

from __future__ import annotations

from collections.abc import Iterator

import constriction
import numpy as np

from nccli import varint
from nccli.entropy.tables import PmfTable
from nccli.errors import InvalidInputError

CODER_NAME = "constriction-ans"
CODER_VERSION = "1"


def encode(symbols: np.ndarray, rows: np.ndarray, table: PmfTable) -> bytes:
    """Entropy-code ``symbols[i]`` with table row ``rows[i]`` (both flattened)."""
    symbols = np.asarray(symbols, dtype=np.int64).ravel()
    rows = np.asarray(rows, dtype=np.int64).ravel()
    if symbols.shape != rows.shape:
        raise ValueError("symbols and rows differ in size")
    groups = _Groups(rows, table)
    escapes: list[bytes] = []
    bins = groups.bins(symbols, escapes)
    coder = constriction.stream.stack.AnsCoder()
    for row, span in reversed(list(groups.spans())):  # a stack: the first decoded goes in last
        coder.encode_reverse(bins[span], _cached_model(table, row))
    return _frame(coder.get_compressed(), escapes)


def decode(data: bytes, rows: np.ndarray, table: PmfTable) -> np.ndarray:
    """Invert encode() given the same rows and table; returns symbols in the shape of rows."""
    groups = _Groups(np.asarray(rows, dtype=np.int64).ravel(), table)
    words, position = _unframe(data)
    coder = constriction.stream.stack.AnsCoder(words)
    bins = [coder.decode(_cached_model(table, row), size) for row, size in groups.sizes]
    symbols, position = groups.values(bins, data, position)
    if position != len(data):
        raise InvalidInputError("entropy-coded data has trailing bytes")
    return symbols.reshape(np.shape(rows))


class QueueEncoder:
    """Codes symbols batch after batch, decodable in the same order (constriction's range
    coder): for models whose later table rows depend on symbols decoded before."""

    def __init__(self, table: PmfTable) -> None:
        self.table = table
        self.coder = constriction.stream.queue.RangeEncoder()
        self.escapes: list[bytes] = []

    def encode(self, symbols: np.ndarray, rows: np.ndarray) -> None:
        groups = _Groups(np.asarray(rows, dtype=np.int64).ravel(), self.table)
        bins = groups.bins(np.asarray(symbols, dtype=np.int64).ravel(), self.escapes)
        for row, span in groups.spans():
            self.coder.encode(bins[span], _cached_model(self.table, row))

    def finish(self) -> bytes:
        return _frame(self.coder.get_compressed(), self.escapes)


class QueueDecoder:
    """Decodes what a QueueEncoder wrote, batch by batch, given the same rows."""

    def __init__(self, data: bytes, table: PmfTable) -> None:
        self.data, self.table = data, table
        words, self.position = _unframe(data)
        self.coder = constriction.stream.queue.RangeDecoder(words)

    def decode(self, rows: np.ndarray) -> np.ndarray:
        groups = _Groups(np.asarray(rows, dtype=np.int64).ravel(), self.table)
        decode, models = self.coder.decode, self.table.row_models
        bins = [
            decode(models[row] if row in models else _cached_model(self.table, row), size)
            for row, size in groups.sizes
        ]
        symbols, self.position = groups.values(bins, self.data, self.position)
        return symbols.reshape(np.shape(rows))

    def finish(self) -> None:
        """Check that the whole payload was used."""
        if self.position != len(self.data):
            raise InvalidInputError("entropy-coded data has trailing bytes")


class _Groups:
    """A batch in coding order: symbols grouped by table row (rows increasing), each group
    in position order. ``sizes`` lists each group's (row, symbol count)."""

    def __init__(self, rows: np.ndarray, table: PmfTable) -> None:
        narrow = len(table.lengths) <= np.iinfo(np.uint16).max  # stable sorts radix-sort these
        self.order = np.argsort(rows.astype(np.uint16) if narrow else rows, kind="stable")
        counts = np.bincount(rows, minlength=len(table.lengths))
        present = np.flatnonzero(counts)
        sizes = counts[present]
        self.sizes = list(zip(present.tolist(), sizes.tolist(), strict=True))
        self.offsets = np.repeat(table.offsets[present], sizes)
        self.escape_bins = np.repeat(table.lengths[present] - 1, sizes)

    def spans(self) -> Iterator[tuple[int, slice]]:
        """Each group's row and its slice of the coding order."""
        start = 0
        for row, size in self.sizes:
            yield row, slice(start, start + size)
            start += size

    def bins(self, symbols: np.ndarray, escapes: list[bytes]) -> np.ndarray:
        """Each symbol's bin in its row, in coding order; symbols outside their row take the
        escape bin, their values go to ``escapes`` as zigzag varints."""
        ordered = symbols[self.order]
        index = ordered - self.offsets
        outside = (index < 0) | (index >= self.escape_bins)
        escapes.extend(varint.encode(varint.zigzag(int(v))) for v in ordered[outside])
        return np.where(outside, self.escape_bins, index).astype(np.int32)

    def values(self, bins: list[np.ndarray], data: bytes, position: int) -> tuple[np.ndarray, int]:
        """Symbols (in position order) from each group's decoded bins, escaped ones read from
        ``data`` at ``position``; and the position after them."""
        decoded = np.concatenate([np.empty(0, dtype=np.int64), *bins])
        ordered = decoded + self.offsets
        for i in np.flatnonzero(decoded == self.escape_bins):
            encoded, position = _read_varint(data, position)
            ordered[i] = varint.unzigzag(encoded)
        symbols = np.empty_like(ordered)
        symbols[self.order] = ordered
        return symbols, position


def _frame(words: np.ndarray, escapes: list[bytes]) -> bytes:
    """Payload: varint byte length of the words, the words (little-endian), the escapes."""
    raw = words.astype("<u4").tobytes()
    return varint.encode(len(raw)) + raw + b"".join(escapes)


def _unframe(data: bytes) -> tuple[np.ndarray, int]:
    length, position = _read_varint(data, 0)
    if length % 4 or position + length > len(data):
        raise InvalidInputError("entropy-coded data is truncated")
    words = np.frombuffer(data[position : position + length], dtype="<u4").astype(np.uint32)
    return words, position + length


def _cached_model(table: PmfTable, row: int) -> constriction.stream.model.Categorical:
    if row not in table.row_models:
        table.row_models[row] = _model(table, row)
    return table.row_models[row]


def _model(table: PmfTable, row: int) -> constriction.stream.model.Categorical:
    counts = table.counts[row, : table.lengths[row]]
    return constriction.stream.model.Categorical(
        counts.astype(np.float64) / float(1 << table.precision), perfect=False
    )


def _read_varint(data: bytes, position: int) -> tuple[int, int]:
    try:
        return varint.read(data, position)
    except ValueError as exc:
        raise InvalidInputError(f"entropy-coded data {exc}") from None
