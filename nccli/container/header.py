"""The self-describing header carried in the HEAD chunk: schema, validation, (de)serialisation."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from nccli.container import compression
from nccli.container import constants as c
from nccli.container.errors import CorruptError, LimitError

MODALITIES = ("image", "audio", "video")
IMAGE_MODES = {"L": (1, 8), "LA": (2, 8), "RGB": (3, 8), "RGBA": (4, 8)}
#: Sample formats of audio: unsigned/signed integers of 8..32 bits, IEEE floats.
SAMPLE_FORMATS = ("u8", "s8", "s16", "s24", "s32", "f32", "f64")


@dataclass(frozen=True)
class ModelRef:
    """Which weights produced a payload: zoo id and sha256 of the weights file."""

    id: str
    sha256: str


@dataclass(frozen=True)
class CoderRef:
    """Entropy coder used for a payload: name and version."""

    name: str
    version: str


@dataclass(frozen=True)
class Header:
    """Everything needed to decode a container and restore the original media."""

    codec: str
    codec_version: int
    modality: str
    media: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)
    model: ModelRef | None = None
    entropy_coder: CoderRef | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    writer: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON object written into the HEAD chunk."""
        return {
            "codec": {
                "name": self.codec,
                "version": self.codec_version,
                "params": self.params,
                "fields": self.fields,
            },
            "model": None if self.model is None else vars(self.model),
            "entropy_coder": None if self.entropy_coder is None else vars(self.entropy_coder),
            "modality": self.modality,
            "media": self.media,
            "metadata": self.metadata,
            "writer": self.writer,
        }

    @classmethod
    def from_dict(cls, obj: Any) -> Header:
        """Validate a decoded JSON object and build a Header; raises CorruptError."""
        root = _expect(obj, dict, "header")
        codec = _expect(root.get("codec"), dict, "codec")
        modality = _expect(root.get("modality"), str, "modality")
        if modality not in MODALITIES:
            raise CorruptError(f"header: unknown modality {modality!r}")
        media = _expect(root.get("media"), dict, "media")
        if modality == "image":
            validate_image_media(media)
        elif modality == "audio":
            validate_audio_media(media)
        metadata = _expect(root.get("metadata", {}), dict, "metadata")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise CorruptError("header: metadata must map strings to strings")
        return cls(
            codec=_expect(codec.get("name"), str, "codec.name"),
            codec_version=_expect(codec.get("version"), int, "codec.version"),
            modality=modality,
            media=media,
            params=_expect(codec.get("params", {}), dict, "codec.params"),
            fields=_expect(codec.get("fields", {}), dict, "codec.fields"),
            model=_optional_ref(root.get("model"), ModelRef, ("id", "sha256"), "model"),
            entropy_coder=_optional_ref(
                root.get("entropy_coder"), CoderRef, ("name", "version"), "entropy_coder"
            ),
            metadata=metadata,
            writer=_expect(root.get("writer", ""), str, "writer"),
        )


def encode_header(header: Header) -> bytes:
    """Serialise a header into a HEAD payload (zstd-compressed when large)."""
    text = json.dumps(header.to_dict(), separators=(",", ":"), sort_keys=True).encode()
    if len(text) > c.MAX_HEADER_LENGTH:
        raise LimitError(f"header of {len(text)} bytes exceeds {c.MAX_HEADER_LENGTH}")
    return compression.pack(text, always=len(text) > c.HEADER_COMPRESS_ABOVE)


def decode_header(payload: bytes) -> Header:
    """Parse a HEAD payload; raises ContainerError subclasses only."""
    body = compression.unpack(payload, c.MAX_HEADER_LENGTH, "header")
    try:
        obj = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CorruptError(f"header is not valid JSON: {exc}") from None
    return Header.from_dict(obj)


def encode_icc_profile(profile: bytes) -> bytes:
    """The iccp chunk payload: the profile, zstd-compressed when that is smaller."""
    return compression.pack(profile)


def decode_icc_profile(payload: bytes) -> bytes:
    return compression.unpack(payload, c.MAX_HEADER_LENGTH, "ICC profile")


def validate_image_media(media: dict[str, Any]) -> None:
    """Check an image descriptor against the limits before any pixel is allocated."""
    width = _expect(media.get("width"), int, "media.width")
    height = _expect(media.get("height"), int, "media.height")
    mode = _expect(media.get("mode"), str, "media.mode")
    bit_depth = _expect(media.get("bit_depth"), int, "media.bit_depth")
    if not (1 <= width <= c.MAX_IMAGE_SIDE and 1 <= height <= c.MAX_IMAGE_SIDE):
        raise LimitError(
            f"image of {width}x{height} pixels is outside 1..{c.MAX_IMAGE_SIDE} per side"
        )
    if width * height > c.MAX_IMAGE_PIXELS:
        raise LimitError(f"image of {width}x{height} pixels exceeds {c.MAX_IMAGE_PIXELS} pixels")
    if mode not in IMAGE_MODES:
        raise CorruptError(f"header: unknown image mode {mode!r}")
    if bit_depth not in (8, 16):
        raise CorruptError(f"header: unsupported bit depth {bit_depth}")


def validate_audio_media(media: dict[str, Any]) -> None:
    """Check an audio descriptor against the limits before any sample is allocated."""
    rate = _expect(media.get("sample_rate"), int, "media.sample_rate")
    channels = _expect(media.get("channels"), int, "media.channels")
    frames = _expect(media.get("frames"), int, "media.frames")
    sample_format = _expect(media.get("sample_format"), str, "media.sample_format")
    if not 1 <= rate <= c.MAX_SAMPLE_RATE:
        raise LimitError(f"sample rate {rate} Hz is outside 1..{c.MAX_SAMPLE_RATE}")
    if not 1 <= channels <= c.MAX_AUDIO_CHANNELS:
        raise LimitError(f"{channels} channels is outside 1..{c.MAX_AUDIO_CHANNELS}")
    if not 1 <= frames <= c.MAX_AUDIO_FRAMES:
        raise LimitError(f"length of {frames} frames is outside 1..{c.MAX_AUDIO_FRAMES}")
    if sample_format not in SAMPLE_FORMATS:
        raise CorruptError(f"header: unknown sample format {sample_format!r}")


def _expect(value: Any, kind: type, name: str) -> Any:
    # bool is an int subclass; a header never means a boolean where it asks for a number.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise CorruptError(f"header: {name} must be a {kind.__name__}")
    return value


def _optional_ref(value: Any, cls: type, keys: tuple[str, str], name: str) -> Any:
    if value is None:
        return None
    obj = _expect(value, dict, name)
    return cls(*(_expect(obj.get(k), str, f"{name}.{k}") for k in keys))
