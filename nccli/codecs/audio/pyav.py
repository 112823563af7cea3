"""Classical audio backends through PyAV (FFmpeg): Opus, AAC, MP3 and lossless FLAC.

Audio the codec cannot take at its rate is resampled to the nearest rate it supports and
back on decoding. Packets are grouped into DATA payloads of about a second
(nccli.codecs.audio.packets). Priming samples are dropped on decoding: the Opus decoder does
it itself from the OpusHead in the extradata; for AAC and MP3 the first packet's negative
pts says how many.
"""

from __future__ import annotations

import base64
from fractions import Fraction
from typing import Any, ClassVar

import av
import numpy as np

from nccli.codecs.audio import packets
from nccli.codecs.audio.stream import AudioCodec, StreamDecoder, StreamEncoder
from nccli.codecs.base import Param
from nccli.container.errors import CorruptError
from nccli.container.header import Header
from nccli.errors import InvalidInputError, UsageError
from nccli.media.audio import AudioInfo, frame_samples
from nccli.media.audio_writer import quantize
from nccli.media.resample import Converter

#: Seconds of audio per DATA payload.
SEGMENT_SECONDS = 1.0
#: numpy types of the integer encoder input formats.
_INTEGER_TYPES = {"s16": np.int16, "s32": np.int32}


class PyAVAudioCodec(AudioCodec):
    """A backend around one FFmpeg encoder/decoder pair."""

    version = 1
    encoder_name: ClassVar[str]
    decoder_name: ClassVar[str]
    #: Sample rates the encoder takes (None: any up to max_rate).
    rates: ClassVar[tuple[int, ...] | None] = None
    max_rate: ClassVar[int] = 655_350
    #: The decoder drops the priming samples by itself.
    decoder_skips_priming: ClassVar[bool] = False

    def identity(self, params: dict[str, Any]) -> str:
        """PyAV's version (its wheel brings FFmpeg and the codec libraries) and libavcodec's:
        another build may give other bytes for the same audio."""
        libavcodec = ".".join(map(str, av.library_versions["libavcodec"]))
        return f"PyAV {av.__version__}, libavcodec {libavcodec}"

    def unavailable_reason(self) -> str | None:
        for name, mode in ((self.encoder_name, "w"), (self.decoder_name, "r")):
            try:
                av.codec.Codec(name, mode)
            except av.FFmpegError:
                return f"this FFmpeg build has no {name} {'encoder' if mode == 'w' else 'decoder'}"
        return None

    def coded_rate(self, rate: int) -> int:
        """The rate the encoder runs at for input at ``rate``."""
        if self.rates is None:
            return min(rate, self.max_rate)
        higher = [r for r in self.rates if r >= rate]
        return min(higher) if higher else max(self.rates)

    def sample_format(self, info: AudioInfo) -> str:
        """FFmpeg sample format fed to the encoder."""
        return "flt"

    def configure(self, context: Any, params: dict[str, Any]) -> None:
        """Set the encoder's rate-controlling options from the parameters."""

    def encoder(self, info: AudioInfo, params: dict[str, Any]) -> StreamEncoder:
        return PacketEncoder(self, info, params)

    def decoder(self, header: Header) -> StreamDecoder:
        return PacketDecoder(self, header)


class PacketEncoder(StreamEncoder):
    """Feeds frames of the encoder's size and groups its packets into payloads."""

    def __init__(self, codec: PyAVAudioCodec, info: AudioInfo, params: dict[str, Any]) -> None:
        self._rate = codec.coded_rate(info.sample_rate)
        self._channels = info.channels
        self._format = codec.sample_format(info)
        self._converter = Converter(info.sample_rate, info.channels, self._rate, info.channels)
        context = av.CodecContext.create(codec.encoder_name, "w")
        context.sample_rate = self._rate
        context.layout = _layout(info.channels)
        context.format = self._format
        context.time_base = Fraction(1, self._rate)
        codec.configure(context, params)
        try:
            context.open()
        except av.FFmpegError as exc:
            raise UsageError(f"{codec.name} cannot encode this audio: {exc}") from None
        self._context = context
        self._frame_size = context.frame_size or 4096
        self._pending = np.zeros((0, info.channels), np.float32)
        self._position = 0
        self._packets: list[packets.Packet] = []
        self._segment = int(SEGMENT_SECONDS * self._rate)
        self.fields = {
            "rate": self._rate,
            "channels": info.channels,
            "extradata": base64.b64encode(context.extradata or b"").decode("ascii"),
        }

    def push(self, block: np.ndarray) -> list[bytes]:
        self._pending = np.concatenate([self._pending, self._converter.push(block)])
        whole = len(self._pending) // self._frame_size * self._frame_size
        for start in range(0, whole, self._frame_size):
            self._encode(self._pending[start : start + self._frame_size])
        self._pending = self._pending[whole:]
        return self._complete_segments(final=False)

    def flush(self) -> list[bytes]:
        rest = np.concatenate([self._pending, self._converter.flush()])
        for start in range(0, len(rest), self._frame_size):
            self._encode(rest[start : start + self._frame_size])
        self._collect(self._context.encode(None))
        return self._complete_segments(final=True)

    def _encode(self, samples: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(
            _to_format(samples, self._format), format=self._format, layout=_layout(self._channels)
        )
        frame.sample_rate = self._rate
        frame.pts = self._position
        frame.time_base = Fraction(1, self._rate)
        self._position += len(samples)
        self._collect(self._context.encode(frame))

    def _collect(self, coded: list[Any]) -> None:
        for packet in coded:
            data = bytes(packet)
            if data:
                self._packets.append(packets.Packet(packet.pts, packet.duration, data))

    def _complete_segments(self, final: bool) -> list[bytes]:
        payloads = []
        while self._packets:
            count = self._segment_length()
            if count is None:
                if not final:
                    break
                count = len(self._packets)
            payloads.append(packets.pack(self._packets[:count]))
            self._packets = self._packets[count:]
        return payloads

    def _segment_length(self) -> int | None:
        """Packets in the next payload: about a second, ending early where a packet's
        duration or position breaks the run; None while the run is still short."""
        first, total = self._packets[0], 0
        for index, packet in enumerate(self._packets):
            total += packet.duration
            following = self._packets[index + 1] if index + 1 < len(self._packets) else None
            if packet.duration != first.duration or total >= self._segment:
                return index + 1
            if following is not None and following.pts != packet.pts + packet.duration:
                return index + 1
        return None


class PacketDecoder(StreamDecoder):
    """Decodes payloads packet by packet and converts back to the original rate/channels."""

    def __init__(self, codec: PyAVAudioCodec, header: Header) -> None:
        fields, media = header.fields, header.media
        rate, channels, extradata = (
            fields.get("rate"),
            fields.get("channels"),
            fields.get("extradata"),
        )
        if not (isinstance(rate, int) and 1 <= rate <= codec.max_rate):
            raise CorruptError(f"header: {codec.name} rate {rate!r} is not valid")
        if channels != media["channels"] or not isinstance(extradata, str):
            raise CorruptError(f"header: {codec.name} fields do not match the media")
        try:
            extra = base64.b64decode(extradata, validate=True)
        except ValueError:
            raise CorruptError("header: extradata is not base64") from None
        context = av.CodecContext.create(codec.decoder_name, "r")
        context.sample_rate = rate
        context.layout = _layout(channels)
        if extra:
            context.extradata = extra
        self._context = context
        self._rate = rate
        self._skip_own_priming = not codec.decoder_skips_priming
        self._to_skip: int | None = None
        self._channels, self._target_rate = channels, media["sample_rate"]
        # Made at the first frame: a decoder may output another rate (libopus gives 48 kHz).
        self._converter: Converter | None = None

    def push(self, payload: bytes) -> np.ndarray:
        decoded = []
        for coded in packets.unpack(payload):
            if self._to_skip is None:
                self._to_skip = max(0, -coded.pts) if self._skip_own_priming else 0
            packet = av.Packet(coded.data)
            packet.pts, packet.duration = coded.pts, coded.duration
            packet.time_base = Fraction(1, self._rate)
            decoded += self._decode(packet)
        return self._convert(self._trim(decoded))

    def flush(self) -> np.ndarray:
        tail = self._convert(self._trim(self._decode(None)))
        if self._converter is None:
            return tail
        return np.concatenate([tail, self._converter.flush()])

    def _decode(self, packet: av.Packet | None) -> list[np.ndarray]:
        try:
            frames = list(self._context.decode(packet))
        except av.EOFError:
            return []
        except av.FFmpegError as exc:
            raise InvalidInputError(f"audio packet does not decode: {exc}") from None
        if frames and self._converter is None:
            rate = frames[0].sample_rate
            self._converter = Converter(rate, self._channels, self._target_rate, self._channels)
        return [frame_samples(frame) for frame in frames]

    def _convert(self, samples: np.ndarray) -> np.ndarray:
        return samples if self._converter is None else self._converter.push(samples)

    def _trim(self, blocks: list[np.ndarray]) -> np.ndarray:
        channels = self._context.layout.nb_channels
        samples = np.concatenate(blocks) if blocks else np.zeros((0, channels), np.float32)
        if samples.shape[1] != channels:
            raise InvalidInputError("audio packets decode to the wrong channel count")
        cut = min(self._to_skip or 0, len(samples))
        self._to_skip = (self._to_skip or 0) - cut
        return samples[cut:]


class OpusCodec(PyAVAudioCodec):
    name = "opus"
    description = "Opus (libopus), the main audio anchor; bitrate in kbit/s"
    encoder_name = decoder_name = "libopus"
    rates = (8000, 12000, 16000, 24000, 48000)
    max_channels = 8
    decoder_skips_priming = True
    params = (Param("bitrate", float, 6, 510, 64, "kbit/s for all channels together"),)
    rate_param = "bitrate"
    sweep = (6.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0, 96.0, 128.0)

    def configure(self, context: Any, params: dict[str, Any]) -> None:
        context.bit_rate = int(params["bitrate"] * 1000)


class AacCodec(PyAVAudioCodec):
    name = "aac"
    description = "AAC-LC (FFmpeg's encoder); bitrate in kbit/s"
    encoder_name = decoder_name = "aac"
    rates = (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200)
    max_channels = 8
    params = (Param("bitrate", float, 16, 512, 128, "kbit/s for all channels together"),)
    rate_param = "bitrate"
    sweep = (24.0, 32.0, 48.0, 64.0, 96.0, 128.0, 192.0)

    def sample_format(self, info: AudioInfo) -> str:
        return "fltp"

    def configure(self, context: Any, params: dict[str, Any]) -> None:
        context.bit_rate = int(params["bitrate"] * 1000)


class Mp3Codec(PyAVAudioCodec):
    name = "mp3"
    description = "MP3 (LAME), constant bitrate in kbit/s"
    encoder_name = "libmp3lame"
    decoder_name = "mp3"
    rates = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
    params = (Param("bitrate", int, 8, 320, 128, "kbit/s (constant)"),)
    rate_param = "bitrate"
    sweep = (32.0, 48.0, 64.0, 96.0, 128.0, 192.0, 256.0, 320.0)

    def sample_format(self, info: AudioInfo) -> str:
        return "fltp"

    def configure(self, context: Any, params: dict[str, Any]) -> None:
        context.bit_rate = int(params["bitrate"]) * 1000


class FlacCodec(PyAVAudioCodec):
    name = "flac"
    description = "FLAC, lossless for integer samples of up to 24 bits"
    encoder_name = decoder_name = "flac"
    lossless = True
    max_channels = 8
    params = (Param("level", int, 0, 12, 5, "compression effort; the output is always lossless"),)

    def check(self, media: AudioInfo) -> None:
        super().check(media)
        if media.sample_format not in ("u8", "s8", "s16", "s24"):
            raise UsageError(
                f"flac is lossless only for integer samples of up to 24 bits; this audio has "
                f"{media.sample_format} samples (use opus/aac/mp3, or convert it first)"
            )

    def sample_format(self, info: AudioInfo) -> str:
        return "s32" if info.sample_format == "s24" else "s16"

    def configure(self, context: Any, params: dict[str, Any]) -> None:
        context.options = {"compression_level": str(params["level"])}


def _layout(channels: int) -> str:
    return {1: "mono", 2: "stereo"}.get(channels, f"{channels}c")


def _to_format(samples: np.ndarray, sample_format: str) -> np.ndarray:
    """frames x channels float32 as the array PyAV wants for ``sample_format``."""
    kind = sample_format.rstrip("p")
    if kind in _INTEGER_TYPES:
        samples = quantize(samples, kind).astype(_INTEGER_TYPES[kind])
    if sample_format.endswith("p"):
        return np.ascontiguousarray(samples.T)
    return np.ascontiguousarray(samples).reshape(1, -1)
