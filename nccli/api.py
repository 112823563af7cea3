"""The Python API: encode media into .ncc bytes and decode them back.

    import nccli
    data = nccli.encode("photo.png", codec="webp", quality=80)
    pixels, info = nccli.decode(data)

The CLI is a thin layer over these functions.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from nccli import container
from nccli.bpp_search import encode_to_bpp
from nccli.codecs.audio.stream import StreamEncoder
from nccli.codecs.base import Codec, Encoded, choose_image_codec, get_codec, registry
from nccli.container.constants import ICC_PROFILE
from nccli.errors import InvalidInputError, UsageError
from nccli.media.audio import Audio, AudioSource, is_audio_path, open_audio
from nccli.media.image import Image, convert_mode, read_image

Source = str | Path | bytes | np.ndarray | Image | Audio


@dataclass(frozen=True)
class Decoded:
    """A decoded file: the media and the header it was restored from."""

    media: Image | Audio
    header: container.Header


def encode(
    source: Source,
    codec: str | None = None,
    *,
    bpp: float | None = None,
    metadata: dict[str, str] | None = None,
    strip: bool = False,
    **params: Any,
) -> bytes:
    """Compress an image (path, encoded bytes, array or Image) or audio (an Audio, an audio
    file's path, or any source with an audio codec) into a .ncc container.

    ``params`` are the codec's parameters in its own scale (see ``nccli codecs``); ``bpp``
    instead searches the rate parameter for the largest file at or below that many bits per
    pixel, measured on the whole container. ``strip`` leaves the ICC profile out. With no
    codec named, an image goes to the default image codec, or where that cannot keep its alpha
    channel or 16-bit samples, to the codec ``choose_image_codec`` picks.
    """
    audio = isinstance(source, (str, Path)) and is_audio_path(source) and codec is None
    if audio or isinstance(source, Audio) or (codec and get_codec(codec).modality == "audio"):
        from nccli.audio import encode_audio

        buffer = io.BytesIO()
        encode_audio(_audio_source(source), buffer, codec, metadata=metadata, **params)
        return buffer.getvalue()
    media = load_media(source)
    if strip:
        media = Image(media.pixels)
    backend = get_codec(codec) if codec else choose_image_codec(media, params).codec
    if backend.modality != "image":
        raise UsageError(f"codec {backend.name} is for {backend.modality}, not image")
    backend.check(media)
    resolved = backend.resolve_params(params)
    if bpp is not None:
        pixels = media.width * media.height
        return encode_to_bpp(
            backend, resolved, pixels, bpp, lambda p: _pack(media, backend, p, metadata or {})
        )
    return _pack(media, backend, resolved, metadata or {})


def decode(data: bytes | BinaryIO | str | Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Decode a .ncc container into (H x W x C pixels or frames x channels samples, header
    as a dict)."""
    result = decode_media(data)
    info = result.header.to_dict()
    if isinstance(result.media, Audio):
        return result.media.samples, info
    info["icc_profile"] = result.media.icc_profile
    return result.media.pixels, info


def decode_media(data: bytes | BinaryIO | str | Path) -> Decoded:
    """Decode a .ncc container into an Image or Audio with its header."""
    if isinstance(data, (str, Path)):
        data = Path(data).read_bytes()
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    parsed = container.load(stream)
    header = parsed.header
    if header.modality == "audio":
        from nccli.audio import read_decoded, start_decoding

        return Decoded(read_decoded(start_decoding(header, parsed.chunks)), header)
    if header.modality != "image":
        raise UsageError(f"file holds {header.modality}, which this nccli cannot decode yet")
    backend = decoding_codec(header)
    image = backend.decode(header, parsed.payloads())
    media = header.media
    if (image.width, image.height) != (media["width"], media["height"]):
        raise InvalidInputError(
            f"payload decodes to {image.width}x{image.height}, header says "
            f"{media['width']}x{media['height']}"
        )
    if image.bit_depth != media["bit_depth"]:
        raise InvalidInputError(f"payload decodes to {image.bit_depth}-bit samples")
    image = convert_mode(image, media["mode"])
    icc = parsed.payloads(ICC_PROFILE)
    profile = container.decode_icc_profile(icc[0]) if icc else None
    return Decoded(Image(image.pixels, profile), header)


def _audio_source(source: Source | Audio) -> AudioSource | Audio:
    if isinstance(source, Audio):
        return source
    if isinstance(source, (str, Path)):
        return open_audio(source)
    if isinstance(source, (bytes, bytearray)):
        return open_audio(io.BytesIO(bytes(source)))
    raise UsageError(f"cannot encode a {type(source).__name__} as audio")


def load_media(source: Source) -> Image:
    """Turn any accepted source into an Image."""
    if isinstance(source, Image):
        return source
    if isinstance(source, np.ndarray):
        return Image(source)
    if isinstance(source, (str, Path)):
        return read_image(Path(source).read_bytes())
    if isinstance(source, (bytes, bytearray)):
        return read_image(bytes(source))
    raise UsageError(f"cannot encode a {type(source).__name__}")


def decoding_codec(header: container.Header) -> Codec:
    """The installed backend that decodes a file with this header."""
    if header.codec not in registry():
        raise UsageError(f"file needs codec {header.codec!r}, which is not installed here")
    backend = get_codec(header.codec)
    if header.modality != backend.modality:
        raise UsageError(f"codec {backend.name} is for {backend.modality}, not {header.modality}")
    if header.codec_version > backend.version:
        raise InvalidInputError(
            f"file needs {header.codec} codec version {header.codec_version}; this nccli has "
            f"version {backend.version}: upgrade nccli"
        )
    return backend


def make_header(
    backend: Codec,
    media: dict[str, Any],
    params: dict[str, Any],
    made: Encoded | StreamEncoder,
    metadata: dict[str, str],
) -> container.Header:
    """The header of a file ``backend`` wrote: ``made`` gives its fields, model and coder."""
    return container.Header(
        codec=backend.name,
        codec_version=backend.version,
        modality=backend.modality,
        media=media,
        params=params,
        fields=made.fields,
        model=made.model,
        entropy_coder=made.entropy_coder,
        metadata=metadata,
        writer=writer_name(),
    )


def _pack(media: Image, backend: Codec, params: dict[str, Any], metadata: dict[str, str]) -> bytes:
    encoded = backend.encode(media, params)
    header = make_header(backend, media.descriptor(), params, encoded, metadata)
    chunks = [(container.DATA, payload) for payload in encoded.chunks]
    if media.icc_profile:
        chunks.append((ICC_PROFILE, container.encode_icc_profile(media.icc_profile)))
    return container.dumps(header, chunks)


def writer_name() -> str:
    """What the header's writer field says."""
    return f"nccli {__version__}"


try:
    __version__ = version("nccli")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
