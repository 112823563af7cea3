"""Writing .ncc containers: preamble, HEAD, payload chunks, optional index, TAIL."""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterable
from typing import BinaryIO

from nccli.container import constants as c
from nccli.container.errors import ContainerError, LimitError
from nccli.container.header import Header, encode_header


class Writer:
    """Streams a container to a binary file object, one chunk at a time."""

    def __init__(self, stream: BinaryIO, header: Header) -> None:
        self._stream = stream
        self._offset = 0
        self._data_chunks: list[tuple[int, int]] = []
        self._closed = False
        prefix = c.SIGNATURE + c.FORMAT_VERSION.to_bytes(2, "big")
        prefix += c.MIN_READER_VERSION.to_bytes(2, "big")
        self._write(prefix + c.CHUNK_CRC.pack(zlib.crc32(prefix)))
        self.add(c.HEAD, encode_header(header))

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._offset

    def add(self, chunk_type: bytes, payload: bytes) -> None:
        """Append one chunk; DATA chunks are recorded for the index."""
        if self._closed:
            raise ContainerError("writer is closed")
        if not c.is_valid_type(chunk_type) or chunk_type in (c.TAIL, c.INDEX):
            raise ValueError(f"invalid chunk type {chunk_type!r}")
        if len(payload) > c.MAX_CHUNK_LENGTH:
            raise LimitError(f"chunk of {len(payload)} bytes exceeds {c.MAX_CHUNK_LENGTH}")
        if chunk_type == c.DATA:
            self._data_chunks.append((self._offset, len(payload)))
        self._write_chunk(chunk_type, payload)

    def close(self, index: bool = True) -> None:
        """Write the optional index and the TAIL chunk; the stream stays open."""
        if self._closed:
            return
        index_offset = c.NO_INDEX
        if index:
            index_offset = self._offset
            entries = b"".join(c.INDEX_ENTRY.pack(o, n) for o, n in self._data_chunks)
            self._write_chunk(c.INDEX, c.INDEX_COUNT.pack(len(self._data_chunks)) + entries)
        self._write_chunk(c.TAIL, c.TAIL_PAYLOAD.pack(index_offset))
        self._closed = True

    def _write_chunk(self, chunk_type: bytes, payload: bytes) -> None:
        crc = zlib.crc32(payload, zlib.crc32(chunk_type))
        self._write(c.CHUNK_PREFIX.pack(len(payload), chunk_type) + payload + c.CHUNK_CRC.pack(crc))

    def _write(self, data: bytes) -> None:
        self._stream.write(data)
        self._offset += len(data)


def dumps(header: Header, chunks: Iterable[tuple[bytes, bytes]], index: bool = True) -> bytes:
    """Serialise a whole container into bytes."""
    buffer = io.BytesIO()
    writer = Writer(buffer, header)
    for chunk_type, payload in chunks:
        writer.add(chunk_type, payload)
    writer.close(index=index)
    return buffer.getvalue()
