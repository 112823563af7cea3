"""Classical image backends inside .ncc: quality, modes, policies, rate control, registry."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import synthetic

import nccli
from nccli import container
from nccli.codecs.base import DEFAULT_CODECS, get_codec, registry
from nccli.errors import InvalidInputError, UsageError
from nccli.media.image import Image
from nccli.metrics import psnr

LOSSY = ["jpeg", "webp", "avif", "jpeg2000"]
ALL = [*LOSSY, "png"]


def bpp(data: bytes, pixels: np.ndarray) -> float:
    return len(data) * 8 / (pixels.shape[0] * pixels.shape[1])


def test_builtin_codecs_are_registered_through_entry_points():
    assert set(ALL) <= set(registry())
    assert all(registry()[name].codec is not None for name in ALL)
    assert DEFAULT_CODECS["image"] in registry()


@pytest.mark.parametrize(
    ("channels", "dtype", "expected"),
    [(1, "uint8", "nc-photo"), (3, "uint8", "nc-photo"), (2, "uint8", "webp"),
     (4, "uint8", "webp"), (3, "uint16", "png"), (4, "uint16", "png")],
)  # fmt: skip
def test_the_api_default_passes_images_it_cannot_keep_to_a_codec_that_can(
    channels, dtype, expected
):
    pixels = synthetic(32, 48, channels, dtype)
    data = nccli.encode(pixels)
    assert nccli.decode(data)[1]["codec"]["name"] == expected
    if expected != "nc-photo":
        with pytest.raises(UsageError, match=f"default codec nc-photo.*--codec {expected}"):
            nccli.encode(pixels, quality=4)


@pytest.mark.parametrize("codec", LOSSY)
def test_lossy_codecs_compress_a_photograph(codec, photo):
    data = nccli.encode(photo, codec)
    decoded, info = nccli.decode(data)
    assert decoded.shape == photo.shape
    assert info["codec"]["name"] == codec
    assert psnr(photo, decoded) > 30
    assert bpp(data, photo) < 3


def test_png_is_bit_exact(photo):
    data = nccli.encode(photo, "png")
    decoded, _ = nccli.decode(data)
    np.testing.assert_array_equal(decoded, photo)


@pytest.mark.parametrize("codec", LOSSY)
def test_higher_quality_spends_more_bits_and_gains_quality(codec, photo):
    spec = get_codec(codec).param("quality")
    low_q, high_q = spec.low + (spec.high - spec.low) * 0.3, spec.low + (spec.high - spec.low) * 0.8
    low = nccli.encode(photo, codec, quality=spec.kind(low_q))
    high = nccli.encode(photo, codec, quality=spec.kind(high_q))
    assert len(high) > len(low)
    assert psnr(photo, nccli.decode(high)[0]) > psnr(photo, nccli.decode(low)[0])


@pytest.mark.parametrize("codec", ["webp", "avif", "jpeg2000", "png"])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_every_mode_comes_back_in_its_own_mode(codec, channels):
    pixels = synthetic(40, 56, channels)
    decoded, info = nccli.decode(nccli.encode(pixels, codec))
    assert decoded.shape == pixels.shape
    assert info["media"]["mode"] == ["L", "LA", "RGB", "RGBA"][channels - 1]
    if channels in (2, 4):  # png and webp keep alpha exactly; avif and jpeg2000 code it lossily
        error = np.abs(decoded[:, :, -1].astype(int) - pixels[:, :, -1]).mean()
        assert error <= (0 if codec in ("png", "webp") else 4)
    assert psnr(pixels, decoded) > 25


def test_jpeg_refuses_alpha():
    with pytest.raises(UsageError, match="jpeg cannot keep the alpha channel"):
        nccli.encode(synthetic(8, 8, 4), "jpeg")


@pytest.mark.parametrize("codec", ["jpeg", "webp", "avif"])
def test_lossy_codecs_refuse_sixteen_bit(codec):
    with pytest.raises(UsageError, match="cannot keep 16-bit"):
        nccli.encode(synthetic(8, 8, 3, "uint16"), codec)


def test_jpeg2000_keeps_sixteen_bit_grayscale():
    pixels = synthetic(32, 32, 1, "uint16")
    decoded, info = nccli.decode(nccli.encode(pixels, "jpeg2000", quality=80))
    assert decoded.dtype == np.uint16
    assert info["media"]["bit_depth"] == 16
    assert psnr(pixels, decoded) > 40
    with pytest.raises(UsageError, match="16-bit RGB"):
        nccli.encode(synthetic(8, 8, 3, "uint16"), "jpeg2000")


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png_keeps_sixteen_bit_exactly(channels):
    pixels = synthetic(16, 12, channels, "uint16")
    decoded, _ = nccli.decode(nccli.encode(pixels, "png"))
    np.testing.assert_array_equal(decoded, pixels)


@pytest.mark.parametrize("codec", LOSSY)
def test_bpp_lands_at_or_just_below_the_target(codec, photo):
    target = 0.6
    data = nccli.encode(photo, codec, bpp=target)
    assert bpp(data, photo) <= target
    assert bpp(data, photo) > 0.8 * target
    used = container.loads(data).header.params["quality"]
    spec = get_codec(codec).param("quality")
    if spec.kind is int and used < spec.high:
        assert bpp(nccli.encode(photo, codec, quality=used + 1), photo) > target


def test_bpp_errors(photo):
    with pytest.raises(UsageError, match="cannot reach"):
        nccli.encode(photo, "jpeg", bpp=0.001)
    with pytest.raises(UsageError, match="no rate parameter"):
        nccli.encode(photo, "png", bpp=1.0)
    with pytest.raises(UsageError, match="positive"):
        nccli.encode(photo, "webp", bpp=0)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"quality": 101}, r"quality must lie in 0\.\.100"),
        ({"quality": "high"}, "quality must be a whole number"),
        ({"quality": 50.5}, "quality must be a whole number"),
        ({"speed": 3}, "no parameter 'speed'"),
    ],
)
def test_parameter_validation(params, message):
    with pytest.raises(UsageError, match=message):
        nccli.encode(synthetic(8, 8, 3), "webp", **params)


def test_unknown_codec():
    with pytest.raises(UsageError, match="unknown codec 'nope'.*known:.*webp"):
        nccli.encode(synthetic(8, 8, 3), "nope")


def test_icc_profile_and_metadata_travel_in_the_container():
    image = Image(synthetic(16, 16, 3), b"icc-profile-bytes")
    data = nccli.encode(image, "webp", metadata={"author": "me"})
    decoded = nccli.decode_media(data)
    assert decoded.media.icc_profile == b"icc-profile-bytes"
    assert decoded.header.metadata == {"author": "me"}
    (chunk,) = container.loads(data).payloads(container.ICC_PROFILE)
    assert container.decode_icc_profile(chunk) == b"icc-profile-bytes"
    stripped = nccli.decode_media(nccli.encode(image, "webp", strip=True))
    assert stripped.media.icc_profile is None


def _tamper(data: bytes, **changes) -> bytes:
    parsed = container.loads(data)
    fields = {**vars(parsed.header), **changes}
    return container.dumps(container.Header(**fields), [(c.type, c.payload) for c in parsed.chunks])


def test_decode_checks_the_payload_against_the_header():
    data = nccli.encode(synthetic(16, 16, 3), "png")
    media = {"width": 17, "height": 16, "mode": "RGB", "bit_depth": 8}
    with pytest.raises(InvalidInputError, match="header says 17x16"):
        nccli.decode(_tamper(data, media=media))
    with pytest.raises(InvalidInputError, match="codec version 9.*upgrade"):
        nccli.decode(_tamper(data, codec_version=9))
    with pytest.raises(UsageError, match="needs codec 'future-codec', which is not installed"):
        nccli.decode(_tamper(data, codec="future-codec"))
    audio = {"sample_rate": 48000, "channels": 2, "frames": 9, "sample_format": "s16"}
    with pytest.raises(UsageError, match="codec png is for image, not audio"):
        nccli.decode(_tamper(data, modality="audio", media=audio))


def test_corrupt_payload_with_valid_crc_is_an_input_error():
    data = nccli.encode(synthetic(16, 16, 3), "webp")
    parsed = container.loads(data)
    garbage = container.dumps(parsed.header, [(container.DATA, b"RIFF0000WEBPgarbage")])
    with pytest.raises(InvalidInputError, match="corrupt webp payload"):
        nccli.decode(garbage)
    two = container.dumps(parsed.header, [(container.DATA, b"a"), (container.DATA, b"b")])
    with pytest.raises(InvalidInputError, match="one chunk"):
        nccli.decode(two)


def test_models_import_without_the_media_stack():
    """Training machines carry only the model's needs: `import nccli` must not load PyAV."""
    code = (
        "import sys, nccli.models.image.variable_rate, nccli.zoo.embedded\n"
        "assert not {'av', 'soundfile', 'typer'} & set(sys.modules), sorted(sys.modules)\n"
        "import nccli\n"
        "assert nccli.encode.__module__ == 'nccli.api'\n"
        "try:\n    nccli.no_such_name\nexcept AttributeError as e:\n    print(e)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "module 'nccli' has no attribute 'no_such_name'" in result.stdout
