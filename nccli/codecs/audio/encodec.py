"""EnCodec backends: the published 24 kHz and 48 kHz models from the zoo, codes entropy-coded.

Audio is converted to the model's rate and channel count (and back on decoding), cut into
fixed windows so that the codes never depend on how the input arrives, and coded as a
stream. Each DATA payload holds about a second of codes (one segment for the 48 kHz model),
coded with adaptive per-codebook tables (nccli.entropy.adaptive):

    varint frames | float32 LE scale (48 kHz model only) | entropy-coded codes
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

import numpy as np

from nccli import varint
from nccli.codecs.audio.stream import AudioCodec, StreamDecoder, StreamEncoder
from nccli.codecs.base import Param
from nccli.container.errors import CorruptError
from nccli.container.header import CoderRef, Header, ModelRef
from nccli.errors import InvalidInputError
from nccli.media.audio import AudioInfo
from nccli.media.resample import Converter

if TYPE_CHECKING:
    import torch

    from nccli.models.audio import Encodec, EncodecSpec

#: Frames of codes per payload of the causal model (one second at 75 Hz).
PAYLOAD_FRAMES = 75
#: Model-rate samples handed to the causal model at a time.
WINDOW_FRAMES = 75
ENTROPY_CODER = CoderRef("constriction-ans-adaptive", "1")


class EncodecCodec(AudioCodec):
    """One published EnCodec configuration; the codec's name is its zoo id."""

    version = 1
    rate_param = "bitrate"

    def identity(self, params: dict[str, Any]) -> str:
        from nccli.zoo.paths import weights_identity

        return weights_identity(self.name)

    def encoder(self, info: AudioInfo, params: dict[str, Any]) -> StreamEncoder:
        return CodesEncoder(self.name, info, params["bitrate"])

    def decoder(self, header: Header) -> StreamDecoder:
        return CodesDecoder(self.name, header)


class Encodec24(EncodecCodec):
    name = "encodec-24khz"
    description = "EnCodec 24 kHz mono, causal (zoo weights); bitrate 1.5-24 kbit/s"
    params = (Param("bitrate", float, 1.5, 24, 6, "kbit/s before entropy coding"),)
    sweep = (1.5, 3.0, 6.0, 12.0, 24.0)


class Encodec48(EncodecCodec):
    name = "encodec-48khz"
    description = "EnCodec 48 kHz stereo, 1 s segments (zoo weights); bitrate 3-24 kbit/s"
    params = (Param("bitrate", float, 3, 24, 6, "kbit/s before entropy coding"),)
    sweep = (3.0, 6.0, 12.0, 24.0)


def _load(model_id: str) -> tuple[Encodec, str]:
    from nccli.codecs.device import torch_device
    from nccli.models.audio import SPECS, Encodec
    from nccli.zoo.store import load_model

    model, digest = load_model(model_id)
    if not isinstance(model, Encodec) or model.spec != SPECS[model_id]:
        raise InvalidInputError(f"the weights stored as {model_id} are not an {model_id} model")
    return model.to(torch_device()), digest


class CodesEncoder(StreamEncoder):
    """Audio blocks to payloads of entropy-coded codes."""

    def __init__(self, name: str, info: AudioInfo, kbps: float) -> None:
        from nccli.entropy.adaptive import CodeTables
        from nccli.models.audio.coding import CodeEncoder

        self.network, digest = _load(name)
        spec = self.network.spec
        self.codebooks = spec.codebooks_for(kbps)
        self.causal = spec.segment is None
        self.converter = Converter(info.sample_rate, info.channels, spec.sample_rate, spec.channels)
        self.window = WINDOW_FRAMES * spec.hop
        self.pending = np.zeros((0, spec.channels), np.float32)
        self.codes = np.zeros((self.codebooks, 0), np.int64)
        self.tables = CodeTables(self.codebooks, spec.bins)
        self.stream = CodeEncoder(self.network, self.codebooks)
        self.fields = {"codebooks": self.codebooks}
        self.model = ModelRef(name, digest)
        self.entropy_coder = ENTROPY_CODER

    def push(self, block: np.ndarray) -> list[bytes]:
        self.pending = np.concatenate([self.pending, self.converter.push(block)])
        whole = len(self.pending) // self.window * self.window
        payloads = []
        for start in range(0, whole, self.window):
            payloads += self._code(
                self.stream.push(_tensor(self.pending[start : start + self.window], self.network))
            )
        self.pending = self.pending[whole:]
        return payloads

    def flush(self) -> list[bytes]:
        rest = np.concatenate([self.pending, self.converter.flush()])
        frames = self.stream.push(_tensor(rest, self.network)) if len(rest) else []
        payloads = self._code(frames + self.stream.flush())
        if len(self.codes[0]):
            payloads.append(self._payload(self.codes, None))
        return payloads

    def _code(self, frames: list) -> list[bytes]:
        """Payloads of the coded frames: each segment's, or whole runs of PAYLOAD_FRAMES."""
        if not self.causal:
            return [self._payload(_codes(codes), scale) for codes, scale in frames]
        self.codes = np.concatenate([self.codes, *(_codes(codes) for codes, _ in frames)], axis=1)
        payloads = []
        while self.codes.shape[1] >= PAYLOAD_FRAMES:
            payloads.append(self._payload(self.codes[:, :PAYLOAD_FRAMES], None))
            self.codes = self.codes[:, PAYLOAD_FRAMES:]
        return payloads

    def _payload(self, codes: np.ndarray, scale: torch.Tensor | None) -> bytes:
        head = varint.encode(codes.shape[1])
        if scale is not None:
            head += struct.pack("<f", float(scale))
        return head + self.tables.encode(codes)


class CodesDecoder(StreamDecoder):
    """Payloads of entropy-coded codes to audio at the original rate and channel count."""

    def __init__(self, name: str, header: Header) -> None:
        from nccli.codecs.image.learned import check_digest
        from nccli.entropy.adaptive import CodeTables
        from nccli.models.audio.coding import CodeDecoder

        if header.model is None or header.model.id != name:
            raise InvalidInputError(f"{name} file names model {header.model!r}, not {name}")
        self.network, digest = _load(name)
        check_digest(name, header.model.sha256, digest, f"`nccli models pull {name}`")
        spec = self.network.spec
        codebooks = header.fields.get("codebooks")
        if (
            not isinstance(codebooks, int)
            or isinstance(codebooks, bool)
            or not (1 <= codebooks <= spec.codebooks)
        ):
            raise CorruptError(f"header: {name} codebooks {codebooks!r} is not 1..{spec.codebooks}")
        media = header.media
        self.converter = Converter(
            spec.sample_rate, spec.channels, media["sample_rate"], media["channels"]
        )
        self.tables = CodeTables(codebooks, spec.bins)
        self.stream = CodeDecoder(self.network)

    def push(self, payload: bytes) -> np.ndarray:
        import torch

        frames, value, position = read_payload_head(payload, self.network.spec)
        device = self.network.quantizer.codebooks.device
        scale = None if value is None else torch.tensor([[value]], device=device)
        codes = self.tables.decode(payload[position:], frames)
        index = torch.from_numpy(codes)[:, None, :].to(device)
        return self.converter.push(_samples(self.stream.push((index, scale))))

    def flush(self) -> np.ndarray:
        tail = self.stream.flush()
        block = (
            _samples(tail)
            if tail is not None
            else np.zeros((0, self.network.spec.channels), np.float32)
        )
        return np.concatenate([self.converter.push(block), self.converter.flush()])


def read_payload_head(payload: bytes, spec: EncodecSpec) -> tuple[int, float | None, int]:
    """(frame count, the segment's scale or None for the causal model, where the coded codes
    start) of a DATA payload of a ``spec`` model; a damaged head raises InvalidInputError."""
    segmented = spec.segment is not None
    most_frames = -(-spec.segment_length // spec.hop) if segmented else PAYLOAD_FRAMES
    try:
        frames, position = varint.read(payload, 0)
    except ValueError as exc:
        raise InvalidInputError(f"payload {exc}") from None
    if not 1 <= frames <= most_frames:
        raise InvalidInputError(f"payload holds {frames} frames, at most {most_frames} expected")
    if not segmented:
        return frames, None, position
    if len(payload) < position + 4:
        raise InvalidInputError("payload ends inside its scale")
    (scale,) = struct.unpack_from("<f", payload, position)
    if not np.isfinite(scale) or scale <= 0:
        raise InvalidInputError(f"segment scale {scale} is not a positive number")
    return frames, scale, position + 4


def _tensor(samples: np.ndarray, network: Encodec) -> torch.Tensor:
    """frames x channels float32 as the model's (1, channels, frames) input."""
    import torch

    device = network.quantizer.codebooks.device
    return torch.from_numpy(np.ascontiguousarray(samples.T))[None].to(device)


def _samples(audio: torch.Tensor) -> np.ndarray:
    """The model's (1, channels, frames) output as frames x channels float32."""
    return np.ascontiguousarray(audio[0].T.float().cpu().numpy())


def _codes(codes: torch.Tensor) -> np.ndarray:
    """(codebooks, 1, frames) codes as a (codebooks, frames) int64 array."""
    return codes[:, 0].cpu().numpy().astype(np.int64)
