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
    coded, escapes = [], []
    for row, members in _groups(rows):
        coded.append((row, _bins(symbols[members], row, table, escapes)))
    coder = constriction.stream.stack.AnsCoder()
    for row, index in reversed(coded):  # a stack: the first group decoded goes in last
        coder.encode_reverse(index, _model(table, row))
    return _frame(coder.get_compressed(), escapes)


def decode(data: bytes, rows: np.ndarray, table: PmfTable) -> np.ndarray:
    """Invert encode() given the same rows and table; returns symbols in the shape of rows."""
    shape = np.shape(rows)
    rows = np.asarray(rows, dtype=np.int64).ravel()
    words, position = _unframe(data)
    coder = constriction.stream.stack.AnsCoder(words)
    symbols = np.empty(len(rows), dtype=np.int64)
    for row, members in _groups(rows):
        index = np.asarray(coder.decode(_model(table, row), len(members)), dtype=np.int64)
        symbols[members], position = _values(index, row, table, data, position)
    if position != len(data):
        raise InvalidInputError("entropy-coded data has trailing bytes")
    return symbols.reshape(shape)


class QueueEncoder:
    """Codes symbols batch after batch, decodable in the same order (constriction's range
    coder): for models whose later table rows depend on symbols decoded before."""

    def __init__(self, table: PmfTable) -> None:
        self.table = table
        self.coder = constriction.stream.queue.RangeEncoder()
        self.escapes: list[bytes] = []
        self.models: dict[int, constriction.stream.model.Categorical] = {}

    def encode(self, symbols: np.ndarray, rows: np.ndarray) -> None:
        symbols = np.asarray(symbols, dtype=np.int64).ravel()
        rows = np.asarray(rows, dtype=np.int64).ravel()
        for row, members in _groups(rows):
            index = _bins(symbols[members], row, self.table, self.escapes)
            self.coder.encode(index, _cached_model(self.models, self.table, row))

    def finish(self) -> bytes:
        return _frame(self.coder.get_compressed(), self.escapes)


class QueueDecoder:
    """Decodes what a QueueEncoder wrote, batch by batch, given the same rows."""

    def __init__(self, data: bytes, table: PmfTable) -> None:
        self.data, self.table = data, table
        words, self.position = _unframe(data)
        self.coder = constriction.stream.queue.RangeDecoder(words)
        self.models: dict[int, constriction.stream.model.Categorical] = {}

    def decode(self, rows: np.ndarray) -> np.ndarray:
        shape = np.shape(rows)
        rows = np.asarray(rows, dtype=np.int64).ravel()
        symbols = np.empty(len(rows), dtype=np.int64)
        for row, members in _groups(rows):
            model = _cached_model(self.models, self.table, row)
            index = np.asarray(self.coder.decode(model, len(members)), dtype=np.int64)
            symbols[members], self.position = _values(
                index, row, self.table, self.data, self.position
            )
        return symbols.reshape(shape)

    def finish(self) -> None:
        """Check that the whole payload was used."""
        if self.position != len(self.data):
            raise InvalidInputError("entropy-coded data has trailing bytes")


def _bins(symbols: np.ndarray, row: int, table: PmfTable, escapes: list[bytes]) -> np.ndarray:
    """Each symbol's bin in its row; symbols outside it take the escape bin, their values
    go to ``escapes`` as zigzag varints."""
    index = symbols - table.offsets[row]
    escape_bin = table.lengths[row] - 1
    outside = (index < 0) | (index >= escape_bin)
    escapes.extend(varint.encode(varint.zigzag(int(v))) for v in symbols[outside])
    return np.where(outside, escape_bin, index).astype(np.int32)


def _values(
    index: np.ndarray, row: int, table: PmfTable, data: bytes, position: int
) -> tuple[np.ndarray, int]:
    """Symbols from decoded bins, escaped ones read from data at position; new position."""
    values = index + table.offsets[row]
    for i in np.flatnonzero(index == table.lengths[row] - 1):
        encoded, position = _read_varint(data, position)
        values[i] = varint.unzigzag(encoded)
    return values, position


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


def _groups(rows: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(row, positions using it) for each distinct row, in increasing row order."""
    if len(rows) == 0:
        return []
    order = np.argsort(rows, kind="stable")
    unique, starts = np.unique(rows[order], return_index=True)
    bounds = [*starts[1:], len(rows)]
    return [(int(r), order[s:e]) for r, s, e in zip(unique, starts, bounds, strict=True)]


def _cached_model(
    cache: dict[int, constriction.stream.model.Categorical], table: PmfTable, row: int
) -> constriction.stream.model.Categorical:
    if row not in cache:
        cache[row] = _model(table, row)
    return cache[row]


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
