"""The Python API for audio: stream audio into a .ncc container and back, block by block.

    from nccli.audio import encode_audio, decode_audio
    with open("talk.ncc", "wb") as out:
        encode_audio("talk.wav", out, codec="opus", bitrate=24)
    decoding = decode_audio(open("talk.ncc", "rb"))
    for block in decoding.blocks(): ...

Neither side holds more than a block and a payload, whatever the duration.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from nccli import container
from nccli.api import decoding_codec, make_header
from nccli.codecs.audio.stream import AudioCodec, StreamDecoder
from nccli.codecs.base import default_codec, get_codec
from nccli.container.constants import MAX_AUDIO_CHANNELS, MAX_SAMPLE_RATE
from nccli.errors import InvalidInputError, UsageError
from nccli.media.audio import Audio, AudioInfo, AudioSource, open_audio
from nccli.media.resample import Converter, fit_length


def audio_codec(name: str | None) -> AudioCodec:
    """The named audio backend, or the default one."""
    backend = get_codec(name) if name else default_codec("audio")
    if not isinstance(backend, AudioCodec):
        raise UsageError(f"codec {backend.name} is for {backend.modality}, not audio")
    return backend


def encode_audio(
    source: AudioSource | Audio | str | Path,
    out: BinaryIO,
    codec: str | None = None,
    *,
    metadata: dict[str, str] | None = None,
    **params: Any,
) -> int:
    """Stream audio into a .ncc container on ``out``; returns the bytes written."""
    backend = audio_codec(codec)
    if isinstance(source, (str, Path)):
        with open_audio(source) as opened:
            return encode_audio(opened, out, codec, metadata=metadata, **params)
    if isinstance(source, Audio):
        source = source.source()
    info = source.info
    info.check()
    backend.check(info)
    resolved = backend.resolve_params(params)
    encoder = backend.encoder(info, resolved)
    header = make_header(backend, info.descriptor(), resolved, encoder, metadata or {})
    writer = container.Writer(out, header)
    for block in source.blocks(backend.block):
        for payload in encoder.push(block):
            writer.add(container.DATA, payload)
    for payload in encoder.flush():
        writer.add(container.DATA, payload)
    writer.close()
    return writer.size


@dataclass
class AudioDecoding:
    """A container being decoded: its header, the output's info, and the blocks to come."""

    header: container.Header
    info: AudioInfo
    _chunks: Iterable[container.Chunk]
    _decoder: StreamDecoder
    _converter: Converter | None

    def blocks(self) -> Iterator[np.ndarray]:
        """Decoded blocks, exactly ``info.frames`` frames in all.

        When the stream is damaged part way, the intact blocks come first, then
        InvalidInputError saying how far decoding got.
        """
        remaining = self.info.frames
        for block in self._converted():
            block = block[:remaining]
            remaining -= len(block)
            if len(block):
                yield block
        if remaining > 0:
            yield np.zeros((remaining, self.info.channels), np.float32)

    def _converted(self) -> Iterator[np.ndarray]:
        for block in self._decoded():
            yield block if self._converter is None else self._converter.push(block)
        if self._converter is not None:
            yield self._converter.flush()

    def _decoded(self) -> Iterator[np.ndarray]:
        """The codec's output at the original rate, cut to the original length."""
        total = self.header.media["frames"]
        produced = 0
        try:
            for chunk in self._chunks:
                if chunk.type == container.DATA:
                    block = self._decoder.push(chunk.payload)[: total - produced]
                    produced += len(block)
                    yield block
        except InvalidInputError as exc:
            yield self._decoder.flush()[: total - produced]
            seconds = produced / self.header.media["sample_rate"]
            raise InvalidInputError(
                f"stream is damaged after {seconds:.2f} s ({produced} of {total} frames "
                f"decoded): {exc}"
            ) from exc
        yield self._decoder.flush()[: total - produced]


def decode_audio(
    stream: BinaryIO, sample_rate: int | None = None, channels: int | None = None
) -> AudioDecoding:
    """Start decoding a .ncc audio container from a (possibly non-seekable) stream."""
    reader = container.Reader(stream)
    return start_decoding(reader.header, reader, sample_rate, channels)


def start_decoding(
    header: container.Header,
    chunks: Iterable[container.Chunk],
    sample_rate: int | None = None,
    channels: int | None = None,
) -> AudioDecoding:
    """Decoding of the chunks that follow a header (read or still to be read)."""
    if header.modality != "audio":
        raise UsageError(f"file holds {header.modality}, not audio")
    backend = _decoding_codec(header)
    media = header.media
    info = AudioInfo(
        **{k: media[k] for k in ("sample_rate", "channels", "frames", "sample_format")}
    )
    converter = None
    if sample_rate is not None or channels is not None:
        rate = sample_rate or info.sample_rate
        count = channels or info.channels
        if not 1 <= rate <= MAX_SAMPLE_RATE:
            raise UsageError(f"--sample-rate must lie in 1..{MAX_SAMPLE_RATE}, not {rate}")
        if not 1 <= count <= MAX_AUDIO_CHANNELS:
            raise UsageError(f"--channels must lie in 1..{MAX_AUDIO_CHANNELS}, not {count}")
        converter = Converter(info.sample_rate, info.channels, rate, count)
        frames = max(1, info.frames * rate // info.sample_rate)
        info = replace(info, sample_rate=rate, channels=count, frames=frames)
    return AudioDecoding(header, info, chunks, backend.decoder(header), converter)


def read_decoded(decoding: AudioDecoding) -> Audio:
    """All of a decoding in memory, cut or padded to its declared length."""
    samples = fit_length(np.concatenate(list(decoding.blocks())), decoding.info.frames)
    return Audio(samples, decoding.info.sample_rate, decoding.info.sample_format)


def _decoding_codec(header: container.Header) -> AudioCodec:
    backend = decoding_codec(header)
    assert isinstance(backend, AudioCodec)  # decoding_codec checked the modality
    return backend
