"""Byte-level constants of the .ncc container, version 1 (see docs/format.md)."""

from __future__ import annotations

import struct

#: PNG-style signature: a high-bit byte, the magic, CR LF, DOS EOF, LF.
SIGNATURE = b"\x8bNCC\r\n\x1a\n"

#: Version this writer produces and the newest version this reader understands.
FORMAT_VERSION = 1
#: Oldest reader version able to read what this writer produces.
MIN_READER_VERSION = 1

#: signature, writer version, minimum reader version, CRC-32 of the preceding 12 bytes.
PREAMBLE = struct.Struct(">8sHHI")
#: Chunk prefix: payload length, 4-byte type. The payload follows, then a CRC-32.
CHUNK_PREFIX = struct.Struct(">I4s")
CHUNK_CRC = struct.Struct(">I")
CHUNK_OVERHEAD = CHUNK_PREFIX.size + CHUNK_CRC.size

HEAD = b"HEAD"
DATA = b"DATA"
TAIL = b"TAIL"
INDEX = b"indx"
ICC_PROFILE = b"iccp"

#: Headers whose JSON is longer than this are written zstd-compressed.
HEADER_COMPRESS_ABOVE = 4096

#: TAIL payload: absolute offset of the index chunk, or NO_INDEX.
TAIL_PAYLOAD = struct.Struct(">Q")
NO_INDEX = 0
#: Index payload: entry count, then (offset, length) of each DATA chunk.
INDEX_COUNT = struct.Struct(">I")
INDEX_ENTRY = struct.Struct(">QQ")

# Limits checked before anything is allocated.
MAX_CHUNK_LENGTH = 1 << 30
MAX_HEADER_LENGTH = 1 << 24
MAX_CHUNKS = 1 << 20
MAX_IMAGE_SIDE = 65535
MAX_IMAGE_PIXELS = 1 << 28
MAX_CHANNELS = 4
MAX_SAMPLE_RATE = 768_000
MAX_AUDIO_CHANNELS = 64
MAX_AUDIO_FRAMES = 1 << 40


def is_skippable(chunk_type: bytes) -> bool:
    """Chunks whose type starts with a lower-case letter may be skipped by readers."""
    return bool(chunk_type[0] & 0x20)


def is_valid_type(chunk_type: bytes) -> bool:
    """A chunk type is four ASCII letters."""
    return len(chunk_type) == 4 and chunk_type.isalpha() and chunk_type.isascii()
