"""Audio backends code a stream of blocks: encoders emit DATA payloads as they go and
decoders turn each payload back into samples, so neither holds a whole file."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import numpy as np

from nccli.codecs.base import Codec, Encoded
from nccli.container.header import CoderRef, Header, ModelRef
from nccli.errors import UsageError
from nccli.media.audio import Audio, AudioInfo
from nccli.media.resample import fit_length


class StreamEncoder:
    """Turns blocks of samples into DATA payloads. ``fields``, ``model`` and
    ``entropy_coder`` are known once it is built, before the first block."""

    fields: dict[str, Any]
    model: ModelRef | None = None
    entropy_coder: CoderRef | None = None

    @abstractmethod
    def push(self, block: np.ndarray) -> list[bytes]:
        """Payloads completed by this frames x channels float32 block (maybe none)."""

    @abstractmethod
    def flush(self) -> list[bytes]:
        """The remaining payloads, at the end of the input."""


class StreamDecoder:
    """Turns DATA payloads back into frames x channels float32 blocks at the original rate
    and channel count; the caller cuts the total to the header's length."""

    @abstractmethod
    def push(self, payload: bytes) -> np.ndarray:
        """Samples decoded from one payload (maybe none yet)."""

    @abstractmethod
    def flush(self) -> np.ndarray:
        """Samples held back, at the end of the stream."""


class AudioCodec(Codec):
    """An audio backend: a stream encoder and decoder, and whole-signal coding built on them."""

    modality: ClassVar[str] = "audio"
    #: Frames per block handed to the encoder.
    block: ClassVar[int] = 1 << 15
    #: Most channels the codec holds.
    max_channels: ClassVar[int] = 2

    def check(self, media: AudioInfo) -> None:
        """Raise UsageError when this codec cannot keep something the audio has."""
        if media.channels > self.max_channels:
            raise UsageError(
                f"{self.name} holds at most {self.max_channels} channels, this audio has "
                f"{media.channels}"
            )

    @abstractmethod
    def encoder(self, info: AudioInfo, params: dict[str, Any]) -> StreamEncoder:
        """A stream encoder for audio described by ``info``, with validated parameters."""

    @abstractmethod
    def decoder(self, header: Header) -> StreamDecoder:
        """A stream decoder for the payloads of a file with this header."""

    def encode(self, media: Audio, params: dict[str, Any]) -> Encoded:
        stream = self.encoder(media.info, params)
        chunks = []
        for start in range(0, len(media.samples), self.block):
            chunks += stream.push(media.samples[start : start + self.block])
        chunks += stream.flush()
        return Encoded(chunks, stream.fields, stream.model, stream.entropy_coder)

    def decode(self, header: Header, chunks: list[bytes]) -> Audio:
        stream = self.decoder(header)
        blocks = [stream.push(chunk) for chunk in chunks] + [stream.flush()]
        media = header.media
        samples = fit_length(np.concatenate(blocks), media["frames"])
        return Audio(samples, media["sample_rate"], media["sample_format"])
