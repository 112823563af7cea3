"""Image I/O: formats, modes, bit depths, EXIF orientation, ICC profiles, bad files."""

from __future__ import annotations

import io

import numpy as np
import PIL.Image
import pytest
from conftest import synthetic

from nccli.errors import InvalidInputError, UsageError
from nccli.media.image import Image, convert_mode, read_image, write_image

LOSSLESS_8BIT = [".png", ".tiff", ".bmp", ".ppm"]


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_png_keeps_every_mode_and_depth_exactly(channels, dtype):
    pixels = synthetic(23, 17, channels, dtype)
    decoded = read_image(write_image(Image(pixels), ".png"))
    assert decoded.pixels.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(decoded.pixels, pixels)


@pytest.mark.parametrize("suffix", LOSSLESS_8BIT)
def test_lossless_formats_round_trip_rgb(suffix):
    pixels = synthetic(20, 30, 3)
    np.testing.assert_array_equal(read_image(write_image(Image(pixels), suffix)).pixels, pixels)


@pytest.mark.parametrize(("suffix", "channels"), [(".tiff", 3), (".tiff", 4), (".ppm", 1)])
def test_sixteen_bit_in_tiff_and_pgm(suffix, channels):
    pixels = synthetic(9, 11, channels, "uint16")
    decoded = read_image(write_image(Image(pixels), suffix))
    np.testing.assert_array_equal(decoded.pixels, pixels)


def test_pillow_written_sixteen_bit_grayscale_is_read_at_full_depth():
    pixels = synthetic(8, 8, 1, "uint16")[:, :, 0]
    buffer = io.BytesIO()
    PIL.Image.fromarray(pixels).save(buffer, format="PNG")
    np.testing.assert_array_equal(read_image(buffer.getvalue()).pixels[:, :, 0], pixels)


def test_jpeg_and_webp_inputs_are_read(photo):
    for suffix in (".jpg", ".webp"):
        decoded = read_image(write_image(Image(photo), suffix))
        assert decoded.pixels.shape == photo.shape
        assert np.abs(decoded.pixels.astype(int) - photo).mean() < 2


def test_exif_orientation_is_applied():
    pixels = synthetic(10, 20, 3)
    exif = PIL.Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buffer = io.BytesIO()
    PIL.Image.fromarray(pixels).save(buffer, format="PNG", exif=exif)
    decoded = read_image(buffer.getvalue())
    np.testing.assert_array_equal(decoded.pixels, np.rot90(pixels, 3))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_of_sixteen_bit_colour_matches_pillow(orientation):
    pixels8 = synthetic(6, 10, 3)
    exif = PIL.Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    PIL.Image.fromarray(pixels8).save(buffer, format="PNG", exif=exif)
    expected = read_image(buffer.getvalue()).pixels
    sixteen = Image(pixels8.astype(np.uint16) * 257)
    data = bytearray(write_image(sixteen, ".png"))
    exif_chunk = _png_chunk(b"eXIf", exif.tobytes().removeprefix(b"Exif\x00\x00"))
    data[33:33] = exif_chunk  # right after IHDR
    decoded = read_image(bytes(data))
    np.testing.assert_array_equal(decoded.pixels, expected.astype(np.uint16) * 257)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def test_icc_profile_is_carried_both_ways():
    profile = b"\x00\x00\x02\x0cfake profile bytes"
    for channels, dtype in [(3, "uint8"), (3, "uint16"), (1, "uint8")]:
        image = Image(synthetic(8, 8, channels, dtype), profile)
        assert read_image(write_image(image, ".png")).icc_profile == profile


def test_palette_and_bilevel_images_are_expanded():
    palette = PIL.Image.fromarray(synthetic(16, 16, 3)).quantize(8)
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG")
    assert read_image(buffer.getvalue()).mode == "RGB"
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG", transparency=0)
    assert read_image(buffer.getvalue()).mode == "RGBA"
    buffer = io.BytesIO()
    PIL.Image.new("1", (8, 8), 1).save(buffer, format="PNG")
    assert read_image(buffer.getvalue()).mode == "L"


def test_cmyk_jpeg_becomes_rgb():
    buffer = io.BytesIO()
    PIL.Image.new("CMYK", (8, 8), (0, 128, 255, 0)).save(buffer, format="JPEG")
    assert read_image(buffer.getvalue()).mode == "RGB"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"hello, this is text", "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not an image"),
    ],
)
def test_bad_image_data(data, message):
    with pytest.raises(InvalidInputError, match=message):
        read_image(data)


def test_truncated_png_is_refused():
    data = write_image(Image(synthetic(64, 64, 3)), ".png")
    with pytest.raises(InvalidInputError):
        read_image(data[: len(data) // 2])


def test_float_and_animated_images_are_refused():
    buffer = io.BytesIO()
    PIL.Image.new("F", (4, 4)).save(buffer, format="TIFF")
    with pytest.raises(InvalidInputError, match="floating-point"):
        read_image(buffer.getvalue())
    frames = [PIL.Image.new("RGB", (4, 4), (i * 50, 0, 0)) for i in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="PNG", save_all=True, append_images=frames[1:])
    with pytest.raises(InvalidInputError, match="animated"):
        read_image(buffer.getvalue())


def test_huge_declared_size_is_refused_before_decoding():
    import struct

    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b"")
    with pytest.raises(InvalidInputError, match="exceeds the"):
        read_image(png)


@pytest.mark.parametrize(
    ("channels", "dtype", "suffix", "message"),
    [
        (4, "uint8", ".jpg", "alpha"),
        (2, "uint8", ".ppm", "alpha"),
        (3, "uint16", ".jpg", "16-bit"),
        (3, "uint16", ".ppm", "only for grayscale"),
        (3, "uint8", ".gif", "cannot write"),
    ],
)
def test_outputs_that_cannot_hold_the_image_are_refused(channels, dtype, suffix, message):
    with pytest.raises(UsageError, match=message):
        write_image(Image(synthetic(4, 4, channels, dtype)), suffix)


def test_convert_mode_between_grey_and_colour():
    rgb = Image(synthetic(5, 5, 3))
    grey = convert_mode(rgb, "L")
    assert grey.mode == "L"
    expected = np.rint(rgb.pixels @ np.array([0.299, 0.587, 0.114]))
    np.testing.assert_array_equal(grey.pixels[:, :, 0], expected)
    assert convert_mode(grey, "RGBA").pixels[0, 0].tolist() == [*[grey.pixels[0, 0, 0]] * 3, 255]
    assert convert_mode(Image(synthetic(5, 5, 4)), "LA").mode == "LA"
    with pytest.raises(InvalidInputError):
        convert_mode(rgb, "CMYK")


def test_image_rejects_bad_arrays():
    with pytest.raises(UsageError):
        Image(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(UsageError):
        Image(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(InvalidInputError):
        Image(np.zeros((0, 4, 3), np.uint8))
