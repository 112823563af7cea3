"""Reading and writing still images as arrays, with the metadata needed to restore them.

Pillow does the work; 16-bit colour, which Pillow reduces to 8 bits, goes through PyAV.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL.Image
import PIL.ImageOps

from nccli.container.constants import MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE
from nccli.container.header import IMAGE_MODES
from nccli.errors import InvalidInputError, UsageError

MODES_BY_CHANNELS = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
#: Output formats by file suffix, with what each can hold.
WRITE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".ppm": "PPM",
    ".pgm": "PPM",
}
_ALPHA_FORMATS = {"PNG", "WEBP", "TIFF"}
_SIXTEEN_BIT_FORMATS = {"PNG", "TIFF", "PPM"}
#: 16-bit layouts that go through PyAV, since Pillow holds only 16-bit grayscale.
_AV_FORMATS = {
    ("PNG", 2): "ya16be",
    ("PNG", 3): "rgb48be",
    ("PNG", 4): "rgba64be",
    ("TIFF", 3): "rgb48le",
    ("TIFF", 4): "rgba64le",
}
_PACKED_16 = {
    "ya16be": (">u2", 2),
    "ya16le": ("<u2", 2),
    "rgb48be": (">u2", 3),
    "rgb48le": ("<u2", 3),
    "rgba64be": (">u2", 4),
    "rgba64le": ("<u2", 4),
}
_LUMA = np.array([0.299, 0.587, 0.114])


@dataclass
class Image:
    """Pixels as an H x W x C array (uint8 or uint16) plus the colour profile to restore."""

    pixels: np.ndarray
    icc_profile: bytes | None = None

    def __post_init__(self) -> None:
        if self.pixels.ndim == 2:
            self.pixels = self.pixels[:, :, None]
        if self.pixels.ndim != 3 or self.pixels.shape[2] not in MODES_BY_CHANNELS:
            raise UsageError(f"an image array must be H x W x 1..4, not {self.pixels.shape}")
        if self.pixels.dtype not in (np.uint8, np.uint16):
            raise UsageError(f"image samples must be uint8 or uint16, not {self.pixels.dtype}")
        if min(self.pixels.shape[:2]) < 1:
            raise InvalidInputError("image has no pixels")

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @property
    def channels(self) -> int:
        return self.pixels.shape[2]

    @property
    def mode(self) -> str:
        return MODES_BY_CHANNELS[self.channels]

    @property
    def bit_depth(self) -> int:
        return 16 if self.pixels.dtype == np.uint16 else 8

    @property
    def has_alpha(self) -> bool:
        return self.channels in (2, 4)

    def descriptor(self) -> dict[str, int | str]:
        """What the container header records to restore this image."""
        return {
            "width": self.width,
            "height": self.height,
            "mode": self.mode,
            "bit_depth": self.bit_depth,
        }

    def to_pil(self) -> PIL.Image.Image:
        """An 8-bit image, or a 16-bit grayscale one, as a Pillow image."""
        if self.bit_depth == 16:
            if self.mode != "L":
                raise UsageError("Pillow holds 16-bit samples only for grayscale images")
            return PIL.Image.fromarray(np.ascontiguousarray(self.pixels[:, :, 0]))
        array = self.pixels[:, :, 0] if self.channels == 1 else self.pixels
        return PIL.Image.fromarray(np.ascontiguousarray(array), mode=self.mode)


def read_image(data: bytes) -> Image:
    """Decode PNG, JPEG, WebP, TIFF, BMP, PPM/PGM (and whatever else Pillow opens).

    EXIF orientation is applied, palettes and exotic modes are expanded to L/LA/RGB/RGBA,
    16-bit samples are kept, and the ICC profile is carried along.
    """
    if not data:
        raise InvalidInputError("input is empty")
    try:
        im = PIL.Image.open(io.BytesIO(data))
        _check_size(*im.size)
        if getattr(im, "n_frames", 1) > 1:
            raise InvalidInputError("animated or multi-page images are not supported")
        if _is_sixteen_bit_colour(im):
            pixels = _read_with_av(data)
            return Image(_apply_orientation(pixels, im), im.info.get("icc_profile"))
        im.load()
        icc = im.info.get("icc_profile")
        im = PIL.ImageOps.exif_transpose(im)
        return Image(_to_array(im), icc or None)
    except PIL.Image.DecompressionBombError:
        raise InvalidInputError("image exceeds the size limits of a safe decode") from None
    except PIL.UnidentifiedImageError:
        raise InvalidInputError("not an image in a supported format") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise InvalidInputError(f"corrupt or unsupported image: {exc}") from None


def write_image(image: Image, suffix: str) -> bytes:
    """Encode an image in the format named by a file suffix (".png", ".tiff", ...)."""
    fmt = WRITE_FORMATS.get(suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(WRITE_FORMATS))
        raise UsageError(f"cannot write images as {suffix!r}; use one of {known}")
    if image.has_alpha and fmt not in _ALPHA_FORMATS:
        raise UsageError(f"{fmt} output cannot hold the alpha channel; write .png instead")
    if image.bit_depth == 16 and fmt not in _SIXTEEN_BIT_FORMATS:
        raise UsageError(f"{fmt} output cannot hold 16-bit samples; write .png or .tiff")
    if image.bit_depth == 16 and (fmt, image.channels) in _AV_FORMATS:
        data = _write_with_av(image, fmt)
        return _insert_png_icc(data, image.icc_profile) if fmt == "PNG" else data
    if image.bit_depth == 16 and image.channels > 1:
        raise UsageError(f"{fmt} output holds 16-bit samples only for grayscale; write .png")
    if fmt == "WEBP" and image.channels < 3:
        image = convert_mode(image, "RGBA" if image.has_alpha else "RGB")
    buffer = io.BytesIO()
    options = {"icc_profile": image.icc_profile} if image.icc_profile else {}
    if fmt == "JPEG":
        options["quality"] = 95
    elif fmt == "WEBP":
        options.update(lossless=True, exact=True)
    image.to_pil().save(buffer, format=fmt, **options)
    return buffer.getvalue()


def convert_mode(image: Image, mode: str) -> Image:
    """Bring a decoded image back to the mode recorded in a header (e.g. RGB -> L, RGBA -> LA)."""
    if mode == image.mode:
        return image
    if mode not in IMAGE_MODES:
        raise InvalidInputError(f"unknown image mode {mode!r}")
    colour = image.pixels[:, :, :3] if image.channels >= 3 else image.pixels[:, :, :1]
    alpha = image.pixels[:, :, -1:] if image.has_alpha else None
    if mode in ("L", "LA"):
        if colour.shape[2] == 3:
            top = np.iinfo(image.pixels.dtype).max
            luma = np.clip(np.rint(colour @ _LUMA), 0, top).astype(image.pixels.dtype)
            colour = luma[:, :, None]
    elif colour.shape[2] == 1:
        colour = np.repeat(colour, 3, axis=2)
    if mode in ("LA", "RGBA"):
        if alpha is None:
            alpha = np.full_like(colour[:, :, :1], np.iinfo(image.pixels.dtype).max)
        colour = np.concatenate([colour, alpha], axis=2)
    return Image(np.ascontiguousarray(colour), image.icc_profile)


def suffix_of(path: str | Path) -> str:
    return Path(path).suffix.lower()


def _check_size(width: int, height: int) -> None:
    if max(width, height) > MAX_IMAGE_SIDE or width * height > MAX_IMAGE_PIXELS:
        raise InvalidInputError(
            f"image of {width}x{height} pixels exceeds the limits ({MAX_IMAGE_SIDE} per side, "
            f"{MAX_IMAGE_PIXELS} pixels)"
        )


def _to_array(im: PIL.Image.Image) -> np.ndarray:
    mode = im.mode
    if mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16)
    if mode in ("I", "I;32"):
        array = np.asarray(im)
        if array.min() < 0 or array.max() > 65535:
            raise InvalidInputError("32-bit integer samples outside 0..65535 are not supported")
        return array.astype(np.uint16)
    if mode == "F":
        raise InvalidInputError("floating-point images are not supported")
    if mode in ("1", "L"):
        return np.asarray(im.convert("L"))
    if mode in ("LA", "La"):
        return np.asarray(im.convert("LA"))
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info
        return np.asarray(im.convert("RGBA" if has_alpha else "RGB"))
    if mode in ("RGBA", "RGBa"):
        return np.asarray(im.convert("RGBA"))
    return np.asarray(im.convert("RGB"))


def _is_sixteen_bit_colour(im: PIL.Image.Image) -> bool:
    """Pillow decodes 16-bit colour or grey+alpha to 8 bits; spot such files by raw mode."""
    if im.mode not in ("LA", "RGB", "RGBA") or not im.tile:
        return False
    rawmode = im.tile[0].args if isinstance(im.tile[0].args, str) else im.tile[0].args[0]
    return isinstance(rawmode, str) and ";16" in rawmode


def _read_with_av(data: bytes) -> np.ndarray:
    import av  # only 16-bit colour needs FFmpeg: imported here to keep startup light

    try:
        with av.open(io.BytesIO(data)) as container:
            frame = next(container.decode(video=0))
    except (av.FFmpegError, StopIteration) as exc:
        raise InvalidInputError(f"corrupt 16-bit image: {exc}") from None
    layout = _PACKED_16.get(frame.format.name)
    if layout is None:
        raise InvalidInputError(f"unsupported 16-bit pixel format {frame.format.name}")
    dtype, channels = layout
    plane = frame.planes[0]
    rows = np.frombuffer(bytes(plane), dtype=np.uint8).reshape(frame.height, plane.line_size)
    samples = rows[:, : frame.width * channels * 2].copy().view(dtype)
    return samples.reshape(frame.height, frame.width, channels).astype(np.uint16)


def _apply_orientation(pixels: np.ndarray, im: PIL.Image.Image) -> np.ndarray:
    orientation = im.getexif().get(0x0112, 1)
    steps = {
        2: (False, 0, True),
        3: (False, 2, False),
        4: (False, 2, True),
        5: (True, 0, False),
        6: (False, 3, False),
        7: (True, 2, False),
        8: (False, 1, False),
    }
    if orientation not in steps:
        return pixels
    transpose, quarter_turns, mirror = steps[orientation]
    if transpose:
        pixels = pixels.transpose(1, 0, 2)
    pixels = np.rot90(pixels, quarter_turns)
    if mirror:
        pixels = pixels[:, ::-1]
    return np.ascontiguousarray(pixels)


def _write_with_av(image: Image, fmt: str) -> bytes:
    """Encode 16-bit colour or grey+alpha losslessly: samples go straight into the frame."""
    import av

    pix_fmt = _AV_FORMATS[(fmt, image.channels)]
    frame = av.VideoFrame(image.width, image.height, pix_fmt)
    plane = frame.planes[0]
    row_bytes = image.pixels.reshape(image.height, -1).astype(_PACKED_16[pix_fmt][0]).view(np.uint8)
    padded = np.zeros((image.height, plane.line_size), dtype=np.uint8)
    padded[:, : row_bytes.shape[1]] = row_bytes
    plane.update(padded.tobytes())
    context = av.CodecContext.create("png" if fmt == "PNG" else "tiff", "w")
    context.width, context.height, context.pix_fmt = image.width, image.height, pix_fmt
    packets = context.encode(frame) + context.encode(None)
    return b"".join(bytes(packet) for packet in packets)


def _insert_png_icc(png: bytes, icc_profile: bytes | None) -> bytes:
    """Add an iCCP chunk right after IHDR (FFmpeg's PNG encoder writes none)."""
    if not icc_profile:
        return png
    body = b"ICC profile\x00\x00" + zlib.compress(icc_profile)
    chunk = struct.pack(">I", len(body)) + b"iCCP" + body
    chunk += struct.pack(">I", zlib.crc32(b"iCCP" + body))
    ihdr_end = 8 + 8 + 13 + 4
    return png[:ihdr_end] + chunk + png[ihdr_end:]
