"""The .ncc container format, version 1 (specified in docs/format.md). Knows nothing of codecs."""

from nccli.container.constants import DATA, FORMAT_VERSION, ICC_PROFILE, MIN_READER_VERSION
from nccli.container.errors import ContainerError
from nccli.container.header import (
    CoderRef,
    Header,
    ModelRef,
    decode_icc_profile,
    encode_icc_profile,
)
from nccli.container.reader import Chunk, Container, Reader, load, loads, read_index
from nccli.container.writer import Writer, dumps

__all__ = [
    "DATA",
    "FORMAT_VERSION",
    "ICC_PROFILE",
    "MIN_READER_VERSION",
    "Chunk",
    "CoderRef",
    "Container",
    "ContainerError",
    "Header",
    "ModelRef",
    "Reader",
    "Writer",
    "decode_icc_profile",
    "dumps",
    "encode_icc_profile",
    "load",
    "loads",
    "read_index",
]
