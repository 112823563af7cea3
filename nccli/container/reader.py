"""Reading .ncc containers from bytes or a (possibly non-seekable) stream.

Every length and count is checked against the limits in constants before it is used, every
chunk's CRC-32 is verified, and only ContainerError subclasses escape.
"""

from __future__ import annotations

import io
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from nccli.container import constants as c
from nccli.container.errors import (
    ContainerError,
    CorruptError,
    LimitError,
    NotAContainerError,
    TruncatedError,
    UnsupportedVersionError,
)
from nccli.container.header import Header, decode_header


@dataclass(frozen=True)
class Chunk:
    """One chunk as read: its type, payload and absolute offset of its length field."""

    type: bytes
    payload: bytes
    offset: int

    @property
    def skippable(self) -> bool:
        return c.is_skippable(self.type)


@dataclass(frozen=True)
class ChunkInfo:
    """Where a chunk lies in the file, for `nccli info`."""

    type: str
    offset: int
    length: int


@dataclass
class Container:
    """A fully read container."""

    header: Header
    chunks: list[Chunk]
    writer_version: int
    min_reader_version: int
    layout: list[ChunkInfo] = field(default_factory=list)
    has_index: bool = False

    def payloads(self, chunk_type: bytes = c.DATA) -> list[bytes]:
        """Payloads of all chunks of one type, in file order."""
        return [chunk.payload for chunk in self.chunks if chunk.type == chunk_type]


class Reader:
    """Reads the preamble and header at once; iterating yields the remaining payload chunks.

    Iteration ends after the TAIL chunk has been verified, so a consumer that has seen the
    iterator finish knows the file was complete.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._offset = 0
        self._count = 0
        self.layout: list[ChunkInfo] = []
        self.writer_version, self.min_reader_version = self._read_preamble()
        head = self._read_chunk()
        if head is None:
            raise TruncatedError("data ends before the HEAD chunk")
        if head.type != c.HEAD:
            raise CorruptError("first chunk is not HEAD")
        self.header = decode_header(head.payload)
        self.has_index = False
        self._data_offsets: list[tuple[int, int]] = []

    def __iter__(self) -> Iterator[Chunk]:
        index_entries: list[tuple[int, int]] | None = None
        index_offset = c.NO_INDEX
        while True:
            chunk = self._read_chunk()
            if chunk is None:
                raise TruncatedError("data ends before the TAIL chunk")
            if chunk.type == c.TAIL:
                self._check_tail(chunk, index_offset)
                return
            if index_entries is not None:
                raise CorruptError("index chunk is not directly followed by TAIL")
            if chunk.type == c.HEAD:
                raise CorruptError(f"second HEAD chunk at offset {chunk.offset}")
            if chunk.type == c.INDEX:
                index_entries = parse_index(chunk.payload)
                if index_entries != self._data_offsets:
                    raise CorruptError("index does not match the DATA chunks")
                index_offset = chunk.offset
                self.has_index = True
                continue
            if chunk.type == c.DATA:
                self._data_offsets.append((chunk.offset, len(chunk.payload)))
            elif not chunk.skippable and chunk.type != c.ICC_PROFILE:
                raise ContainerError(
                    f"unknown critical chunk {chunk.type.decode()!r} at offset {chunk.offset}: "
                    "this file needs a newer nccli"
                )
            yield chunk

    def _read_preamble(self) -> tuple[int, int]:
        raw = self._stream.read(c.PREAMBLE.size)
        if not raw:
            raise TruncatedError("input is empty")
        signature = raw[: len(c.SIGNATURE)]
        if signature != c.SIGNATURE[: len(signature)]:
            raise NotAContainerError(_describe_bad_signature(signature))
        if len(raw) < c.PREAMBLE.size:
            raise TruncatedError("data ends inside the preamble")
        _, writer_version, min_reader, crc = c.PREAMBLE.unpack(raw)
        if zlib.crc32(raw[:-4]) != crc:
            raise CorruptError("preamble checksum mismatch")
        if min_reader > c.FORMAT_VERSION:
            raise UnsupportedVersionError(
                f"file needs an .ncc reader of version {min_reader} or newer; this nccli reads "
                f"version {c.FORMAT_VERSION}: upgrade nccli"
            )
        self._offset = len(raw)
        return writer_version, min_reader

    def _read_chunk(self) -> Chunk | None:
        offset = self._offset
        prefix = self._stream.read(c.CHUNK_PREFIX.size)
        if not prefix:
            return None
        if len(prefix) < c.CHUNK_PREFIX.size:
            raise TruncatedError(f"data ends inside the chunk at offset {offset}")
        length, chunk_type = c.CHUNK_PREFIX.unpack(prefix)
        if not c.is_valid_type(chunk_type):
            raise CorruptError(f"invalid chunk type {chunk_type!r} at offset {offset}")
        if length > c.MAX_CHUNK_LENGTH:
            raise LimitError(f"chunk at offset {offset} claims {length} bytes")
        self._count += 1
        if self._count > c.MAX_CHUNKS:
            raise LimitError(f"more than {c.MAX_CHUNKS} chunks")
        body = _read_exact(self._stream, length + c.CHUNK_CRC.size, offset)
        payload = body[:length]
        (crc,) = c.CHUNK_CRC.unpack(body[length:])
        if zlib.crc32(payload, zlib.crc32(chunk_type)) != crc:
            name = chunk_type.decode("ascii")
            raise CorruptError(f"checksum mismatch in {name} chunk at offset {offset}")
        self._offset += c.CHUNK_OVERHEAD + length
        self.layout.append(ChunkInfo(chunk_type.decode("ascii"), offset, length))
        return Chunk(chunk_type, payload, offset)

    def _check_tail(self, tail: Chunk, index_offset: int) -> None:
        if len(tail.payload) != c.TAIL_PAYLOAD.size:
            raise CorruptError("TAIL chunk has the wrong size")
        (declared,) = c.TAIL_PAYLOAD.unpack(tail.payload)
        if declared != index_offset:
            raise CorruptError("TAIL points to no index chunk")
        if self._stream.read(1):
            raise CorruptError(f"unexpected bytes after the TAIL chunk at offset {self._offset}")


def load(stream: BinaryIO) -> Container:
    """Read a whole container from a stream."""
    reader = Reader(stream)
    chunks = list(reader)
    return Container(
        reader.header,
        chunks,
        reader.writer_version,
        reader.min_reader_version,
        reader.layout,
        reader.has_index,
    )


def loads(data: bytes) -> Container:
    """Read a whole container from bytes."""
    return load(io.BytesIO(data))


def parse_index(payload: bytes) -> list[tuple[int, int]]:
    """Decode an index payload into (offset, length) pairs of DATA chunks."""
    if len(payload) < c.INDEX_COUNT.size:
        raise CorruptError("index chunk is too short")
    (count,) = c.INDEX_COUNT.unpack_from(payload)
    if len(payload) != c.INDEX_COUNT.size + count * c.INDEX_ENTRY.size:
        raise CorruptError("index chunk size does not match its entry count")
    return [
        c.INDEX_ENTRY.unpack_from(payload, c.INDEX_COUNT.size + i * c.INDEX_ENTRY.size)
        for i in range(count)
    ]


def read_index(stream: BinaryIO) -> list[tuple[int, int]] | None:
    """Read the trailing index of a seekable file: (offset, length) of each DATA chunk.

    Returns None when the file carries no index. Only the TAIL and index chunks are read.
    """
    tail_size = c.CHUNK_OVERHEAD + c.TAIL_PAYLOAD.size
    end = stream.seek(0, os.SEEK_END)
    if end < c.PREAMBLE.size + tail_size:
        raise TruncatedError("file is too short to hold a TAIL chunk")
    tail = read_chunk_at(stream, end - tail_size)
    if tail.type != c.TAIL or len(tail.payload) != c.TAIL_PAYLOAD.size:
        raise CorruptError("file does not end with a TAIL chunk")
    (index_offset,) = c.TAIL_PAYLOAD.unpack(tail.payload)
    if index_offset == c.NO_INDEX:
        return None
    if not c.PREAMBLE.size <= index_offset < end - tail_size:
        raise CorruptError("TAIL points outside the file")
    index = read_chunk_at(stream, index_offset)
    if index.type != c.INDEX:
        raise CorruptError("TAIL does not point to an index chunk")
    entries = parse_index(index.payload)
    if any(o < c.PREAMBLE.size or o + c.CHUNK_OVERHEAD + n > index_offset for o, n in entries):
        raise CorruptError("index entry points outside the data area")
    return entries


def read_chunk_at(stream: BinaryIO, offset: int) -> Chunk:
    """Read and verify the chunk starting at an absolute offset of a seekable stream."""
    stream.seek(offset)
    prefix = _read_exact(stream, c.CHUNK_PREFIX.size, offset)
    length, chunk_type = c.CHUNK_PREFIX.unpack(prefix)
    if not c.is_valid_type(chunk_type) or length > c.MAX_CHUNK_LENGTH:
        raise CorruptError(f"no valid chunk at offset {offset}")
    body = _read_exact(stream, length + c.CHUNK_CRC.size, offset)
    (crc,) = c.CHUNK_CRC.unpack(body[length:])
    if zlib.crc32(body[:length], zlib.crc32(chunk_type)) != crc:
        raise CorruptError(f"checksum mismatch in chunk at offset {offset}")
    return Chunk(chunk_type, body[:length], offset)


def _read_exact(stream: BinaryIO, size: int, offset: int) -> bytes:
    parts, remaining = [], size
    while remaining:
        part = stream.read(min(remaining, 1 << 20))
        if not part:
            raise TruncatedError(f"data ends inside the chunk at offset {offset}")
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def _describe_bad_signature(signature: bytes) -> str:
    if signature.startswith((b"\x8bNCC\n", b"\x8bNCC\r\r\n")):
        return "not an .ncc file (signature damaged: line endings were converted in text mode)"
    if signature[:1] == b"\x0b" and signature[1:] == c.SIGNATURE[1 : len(signature)]:
        return "not an .ncc file (signature damaged: high bit stripped by a 7-bit transfer)"
    return "not an .ncc file (bad signature)"
