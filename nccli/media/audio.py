"""Reading audio in blocks, with the metadata needed to restore it.

soundfile (libsndfile) reads WAV, FLAC, OGG, MP3 and friends; anything else (AAC/M4A, the
audio track of a video, ...) is decoded by PyAV into a temporary file first, so every source
has an exact length and is read in blocks with bounded memory, whatever its duration.
Samples travel as frames x channels float32 arrays in [-1, 1]; integer samples of up to 24
bits are exact in that form.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import soundfile

from nccli.container.constants import MAX_AUDIO_CHANNELS, MAX_AUDIO_FRAMES, MAX_SAMPLE_RATE
from nccli.container.header import SAMPLE_FORMATS
from nccli.errors import InvalidInputError, UsageError

#: Suffixes that `nccli encode` and `eval` treat as audio.
AUDIO_SUFFIXES = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".aif", ".aiff", ".w64"}
    | {".mp4", ".mkv", ".webm", ".mov"}
)
#: Sample format of each libsndfile subtype holding PCM or floats; others decode to s16.
_FORMAT_OF_SUBTYPE = {
    "PCM_U8": "u8",
    "PCM_S8": "s8",
    "PCM_16": "s16",
    "PCM_24": "s24",
    "PCM_32": "s32",
    "FLOAT": "f32",
    "DOUBLE": "f64",
    "VORBIS": "f32",
    "OPUS": "f32",
}
#: Sample format of each PyAV (FFmpeg) sample format.
_FORMAT_OF_AV = {
    "u8": "u8",
    "s16": "s16",
    "s32": "s32",
    "flt": "f32",
    "dbl": "f64",
    "s64": "s32",
}
_SUBTYPE_OF_FORMAT = {
    "u8": "PCM_U8",
    "s8": "PCM_S8",
    "s16": "PCM_16",
    "s24": "PCM_24",
    "s32": "PCM_32",
    "f32": "FLOAT",
    "f64": "DOUBLE",
}
#: Frames per block when a whole source is read.
BLOCK = 1 << 16


@dataclass(frozen=True)
class AudioInfo:
    """What the container keeps to restore audio: rate, channels, length, sample format."""

    sample_rate: int
    channels: int
    frames: int
    sample_format: str

    def descriptor(self) -> dict[str, Any]:
        """The header's media object."""
        return asdict(self)

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate

    def check(self) -> None:
        """Refuse what no codec can keep: no samples, absurd rates or channel counts."""
        if self.frames < 1:
            raise InvalidInputError("holds no audio samples")
        if not 1 <= self.sample_rate <= MAX_SAMPLE_RATE:
            raise InvalidInputError(
                f"sample rate {self.sample_rate} Hz is outside 1..{MAX_SAMPLE_RATE}"
            )
        if not 1 <= self.channels <= MAX_AUDIO_CHANNELS:
            raise InvalidInputError(f"{self.channels} channels is outside 1..{MAX_AUDIO_CHANNELS}")
        if self.frames > MAX_AUDIO_FRAMES:
            raise InvalidInputError(f"{self.frames} frames exceeds {MAX_AUDIO_FRAMES}")
        if self.sample_format not in SAMPLE_FORMATS:
            raise InvalidInputError(f"unsupported sample format {self.sample_format!r}")


@dataclass
class Audio:
    """Samples as a frames x channels float32 array, their rate and original format."""

    samples: np.ndarray
    sample_rate: int
    sample_format: str = "f32"

    def __post_init__(self) -> None:
        if self.samples.ndim == 1:
            self.samples = self.samples[:, None]
        if self.samples.ndim != 2:
            raise UsageError(f"audio must be frames x channels, not {self.samples.shape}")
        self.samples = np.ascontiguousarray(self.samples, dtype=np.float32)

    @property
    def info(self) -> AudioInfo:
        frames, channels = self.samples.shape
        return AudioInfo(self.sample_rate, channels, frames, self.sample_format)

    def source(self) -> AudioSource:
        return ArraySource(self)


class AudioSource:
    """Audio opened for reading in blocks; subclasses supply _read."""

    info: AudioInfo

    def blocks(self, size: int = BLOCK) -> Iterator[np.ndarray]:
        """frames x channels float32 blocks of ``size`` frames (the last may be shorter).

        Raises InvalidInputError at the first NaN or infinite sample.
        """
        position = 0
        while position < self.info.frames:
            block = self._read(position, min(size, self.info.frames - position))
            if len(block) == 0:
                raise InvalidInputError(
                    f"audio ends after {position} of the {self.info.frames} frames it declares"
                )
            finite = np.isfinite(block)
            if not finite.all():
                frame = position + int(np.argwhere(~finite)[0][0])
                raise InvalidInputError(f"sample at frame {frame} is NaN or infinite")
            position += len(block)
            yield block

    def read(self) -> Audio:
        """The whole source in memory."""
        samples = np.concatenate(list(self.blocks()))
        return Audio(samples, self.info.sample_rate, self.info.sample_format)

    def close(self) -> None:
        """Release files held open."""

    def _read(self, position: int, frames: int) -> np.ndarray:
        raise NotImplementedError

    def __enter__(self) -> AudioSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ArraySource(AudioSource):
    """Blocks of an Audio held in memory."""

    def __init__(self, audio: Audio) -> None:
        self._samples = audio.samples
        self.info = audio.info

    def _read(self, position: int, frames: int) -> np.ndarray:
        return self._samples[position : position + frames]


class SoundFileSource(AudioSource):
    """Blocks of a file libsndfile can read; ``keep`` is closed with it (a temporary file)."""

    def __init__(self, sound: soundfile.SoundFile, sample_format: str, keep: Any = None) -> None:
        self._sound = sound
        self._keep = keep
        self.info = AudioInfo(sound.samplerate, sound.channels, sound.frames, sample_format)

    def _read(self, position: int, frames: int) -> np.ndarray:
        if self._sound.tell() != position:
            self._sound.seek(position)
        return self._sound.read(frames, dtype="float32", always_2d=True)

    def close(self) -> None:
        self._sound.close()
        if self._keep is not None:
            self._keep.close()


def open_audio(file: str | Path | BinaryIO) -> AudioSource:
    """Open a path or a seekable binary file for block reading; checks its info."""
    source = _open_soundfile(file) or _decode_with_av(file)
    try:
        source.info.check()
    except InvalidInputError:
        source.close()
        raise
    return source


def read_audio(file: str | Path | BinaryIO) -> Audio:
    """A whole audio file in memory."""
    with open_audio(file) as source:
        return source.read()


def is_audio_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in AUDIO_SUFFIXES


def _open_soundfile(file: str | Path | BinaryIO) -> SoundFileSource | None:
    try:
        sound = soundfile.SoundFile(file)
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        if not isinstance(file, (str, Path)):
            file.seek(0)
        return None
    sample_format = _FORMAT_OF_SUBTYPE.get(sound.subtype, "s16")
    return SoundFileSource(sound, sample_format)


def _decode_with_av(file: str | Path | BinaryIO) -> SoundFileSource:
    """Decode the first audio track with PyAV into a temporary file libsndfile reads back."""
    import av

    try:
        container = av.open(str(file) if isinstance(file, Path) else file)
    except (av.FFmpegError, ValueError, OSError):
        raise InvalidInputError("not an audio file nccli can read") from None
    with container:
        if not container.streams.audio:
            raise InvalidInputError("has no audio track")
        stream = container.streams.audio[0]
        rate, channels = stream.codec_context.sample_rate, stream.codec_context.channels
        sample_format = _FORMAT_OF_AV.get(stream.codec_context.format.name.rstrip("p"), "f32")
        AudioInfo(rate, channels, 1, sample_format).check()
        temp = tempfile.TemporaryFile()  # noqa: SIM115 - closed with the source
        with soundfile.SoundFile(
            temp, "w", rate, channels, _SUBTYPE_OF_FORMAT[sample_format], format="RF64"
        ) as sink:
            try:
                for frame in container.decode(stream):
                    if frame.sample_rate != rate or frame.layout.nb_channels != channels:
                        raise InvalidInputError("sample rate or channel count changes mid-stream")
                    sink.write(frame_samples(frame))
            except av.FFmpegError as exc:
                temp.close()
                raise InvalidInputError(f"audio track is corrupt: {exc}") from None
    temp.seek(0)
    return SoundFileSource(soundfile.SoundFile(temp), sample_format, keep=temp)


def frame_samples(frame: Any) -> np.ndarray:
    """A PyAV audio frame as frames x channels float32 in [-1, 1]."""
    array = frame.to_ndarray()
    channels = frame.layout.nb_channels
    array = array if frame.format.is_planar else array.reshape(-1, channels).T
    kind = frame.format.name.rstrip("p")
    scale = {"u8": 128.0, "s16": 32768.0, "s32": 2.0**31, "s64": 2.0**63}.get(kind)
    if kind == "u8":
        array = array.astype(np.float32) - 128.0
    if scale is not None:
        array = array.astype(np.float64) / scale
    return np.ascontiguousarray(array.T, dtype=np.float32)
