"""Writing audio block by block: WAV (to files or pipes) and FLAC (to files).

WAV is written by hand so that it can stream to a pipe: the length is known from the .ncc
header, so the RIFF sizes are right before the first sample. FLAC goes through libsndfile,
which needs a seekable file.
"""

from __future__ import annotations

import struct
from dataclasses import replace
from typing import BinaryIO

import numpy as np
import soundfile

from nccli.errors import UsageError
from nccli.media.audio import AudioInfo

#: Output formats by suffix.
WRITE_SUFFIXES = (".wav", ".flac")
#: Bytes per sample and WAV format tag of each sample format (1: PCM, 3: IEEE float).
_WAV_LAYOUT = {
    "u8": (1, 1),
    "s8": (1, 1),
    "s16": (2, 1),
    "s24": (3, 1),
    "s32": (4, 1),
    "f32": (4, 3),
    "f64": (8, 3),
}
#: FLAC holds integers of up to 24 bits; wider and float samples are written as 24-bit.
_FLAC_SUBTYPE = {"u8": "PCM_S8", "s8": "PCM_S8", "s16": "PCM_16"}
_EXTENSIBLE = 0xFFFE
#: KSDATAFORMAT_SUBTYPE GUID tail shared by PCM and IEEE float.
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_UNKNOWN_SIZE = 0xFFFFFFFF


def quantize(block: np.ndarray, sample_format: str) -> np.ndarray:
    """float32 samples in [-1, 1] as the integers of an integer format (rounded, clipped);
    float formats come back as float arrays of their width."""
    if sample_format == "f32":
        return block.astype("<f4")
    if sample_format == "f64":
        return block.astype("<f8")
    bits = 8 if sample_format in ("u8", "s8") else int(sample_format[1:])
    scale = float(1 << (bits - 1))
    values = np.clip(np.round(block.astype(np.float64) * scale), -scale, scale - 1)
    return values.astype(np.int64) + (128 if sample_format == "u8" else 0)


class WavWriter:
    """Streams a WAV file: header first (sizes from ``info``), then samples as they come."""

    def __init__(self, stream: BinaryIO, info: AudioInfo, seekable: bool = False) -> None:
        self._stream = stream
        self._info = info
        self._format = info.sample_format
        self._width, self._tag = _WAV_LAYOUT[info.sample_format]
        self._seekable = seekable
        self._written = 0
        self._stream.write(_wav_header(info, self._width, self._tag))

    def write(self, block: np.ndarray) -> None:
        # WAV's 8-bit samples are unsigned, so s8 is written as u8.
        values = quantize(block, "u8" if self._format == "s8" else self._format)
        self._written += len(block)
        if values.dtype.kind == "f":
            self._stream.write(values.tobytes())
        else:
            little = values.astype("<i4" if self._width > 2 else "<i2").view(np.uint8)
            width = 4 if self._width > 2 else 2
            samples = little.reshape(-1, width)[:, : self._width]
            self._stream.write(np.ascontiguousarray(samples).tobytes())
        self._stream.flush()

    def close(self) -> None:
        """Finish; in a file cut short (a damaged input), the sizes are set to what was
        written."""
        if self._seekable and self._written != self._info.frames:
            end = self._stream.tell()
            self._stream.seek(0)
            actual = replace(self._info, frames=self._written)
            self._stream.write(_wav_header(actual, self._width, self._tag))
            self._stream.seek(end)
        self._stream.flush()


class FlacWriter:
    """Writes FLAC through libsndfile into a seekable binary file."""

    def __init__(self, stream: BinaryIO, info: AudioInfo) -> None:
        self._format = info.sample_format
        subtype = _FLAC_SUBTYPE.get(info.sample_format, "PCM_24")
        self._bits = {"PCM_S8": 8, "PCM_16": 16, "PCM_24": 24}[subtype]
        self._sound = soundfile.SoundFile(
            stream, "w", info.sample_rate, info.channels, subtype, format="FLAC"
        )

    def write(self, block: np.ndarray) -> None:
        # libsndfile scales int32 by 2^31: hand it 24-bit (or narrower) values left-justified.
        values = quantize(block, f"s{self._bits}") << (32 - self._bits)
        self._sound.write(values.astype(np.int32))

    def close(self) -> None:
        self._sound.close()


def open_writer(
    stream: BinaryIO, info: AudioInfo, suffix: str, seekable: bool
) -> WavWriter | FlacWriter:
    """A writer for ``suffix`` (.wav or .flac) on ``stream``."""
    if suffix == ".wav":
        return WavWriter(stream, info, seekable)
    if suffix == ".flac":
        if not seekable:
            raise UsageError("FLAC cannot be written to a pipe; write WAV (-o -) or to a file")
        if info.channels > 8:
            raise UsageError(f"FLAC holds at most 8 channels, not {info.channels}")
        return FlacWriter(stream, info)
    raise UsageError(f"cannot write audio as {suffix!r}; use one of {', '.join(WRITE_SUFFIXES)}")


def _wav_header(info: AudioInfo, width: int, tag: int) -> bytes:
    data = info.frames * info.channels * width
    extensible = info.channels > 2 or (width > 2 and tag == 1)
    block_align = width * info.channels
    fmt = struct.pack(
        "<HHIIHH",
        _EXTENSIBLE if extensible else tag,
        info.channels,
        info.sample_rate,
        info.sample_rate * block_align,
        block_align,
        width * 8,
    )
    if extensible:
        mask = (1 << info.channels) - 1 if info.channels <= 18 else 0
        fmt += struct.pack("<HHI", 22, width * 8, mask) + struct.pack("<H", tag) + _GUID_TAIL
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    if tag == 3:
        chunks += b"fact" + struct.pack("<II", 4, min(info.frames, _UNKNOWN_SIZE))
    riff = 4 + len(chunks) + 8 + data
    if riff > _UNKNOWN_SIZE:
        raise UsageError(f"{data} bytes of samples do not fit a WAV file (4 GiB); write FLAC")
    return b"RIFF" + struct.pack("<I", riff) + b"WAVE" + chunks + b"data" + struct.pack("<I", data)
