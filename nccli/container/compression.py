"""zstd for payloads that the container itself defines (header, ICC profile), with limits."""

from __future__ import annotations

import zstandard

from nccli.container.errors import CorruptError, LimitError

RAW = 0
ZSTD = 1


def pack(data: bytes, always: bool = False, threshold: int = 0) -> bytes:
    """Prefix an encoding byte; compress when asked or when it pays and data exceeds threshold."""
    if always or len(data) > threshold:
        packed = zstandard.ZstdCompressor(level=19).compress(data)
        if always or len(packed) < len(data):
            return bytes([ZSTD]) + packed
    return bytes([RAW]) + data


def unpack(payload: bytes, limit: int, what: str) -> bytes:
    """Undo pack(), refusing unknown encodings and output longer than limit."""
    if not payload:
        raise CorruptError(f"{what} is empty")
    encoding, body = payload[0], payload[1:]
    if encoding == RAW:
        return body
    if encoding != ZSTD:
        raise CorruptError(f"{what}: unknown encoding {encoding}")
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(body)
        parts, total = [], 0
        while total <= limit and (part := reader.read(1 << 16)):
            parts.append(part)
            total += len(part)
    except zstandard.ZstdError as exc:
        raise CorruptError(f"{what}: bad zstd data: {exc}") from None
    if total > limit:
        raise LimitError(f"{what} decompresses to more than {limit} bytes")
    return b"".join(parts)
