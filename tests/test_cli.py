"""End-to-end CLI tests in fresh processes: the documented commands, exit codes, bad inputs."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import synthetic

import nccli
from nccli import container
from nccli.container import constants as c
from nccli.media.image import Image, read_image, write_image


@pytest.fixture
def work(tmp_path: Path, photo_path: Path) -> Path:
    shutil.copy(photo_path, tmp_path / "x.png")
    return tmp_path


def files_in(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


def test_encode_then_decode_webp(cli, work):
    result = cli("encode", "x.png", "-o", "x.ncc", "--codec", "webp", "--quality", "80", cwd=work)
    assert result.returncode == 0, result.stderr
    assert b"x.png -> x.ncc" in result.stderr
    assert result.stdout == b""
    assert container.loads((work / "x.ncc").read_bytes()).header.params == {"quality": 80}
    result = cli("decode", "x.ncc", "-o", "y.png", cwd=work)
    assert result.returncode == 0, result.stderr
    decoded = read_image((work / "y.png").read_bytes())
    assert decoded.pixels.shape == read_image((work / "x.png").read_bytes()).pixels.shape


def test_pipe_through_avif(cli, work):
    source = (work / "x.png").read_bytes()
    encoded = cli("encode", "-", "-o", "-", "--codec", "avif", stdin=source)
    assert encoded.returncode == 0, encoded.stderr
    assert encoded.stdout.startswith(c.SIGNATURE)
    decoded = cli("decode", "-", "-o", "y.png", stdin=encoded.stdout, cwd=work)
    assert decoded.returncode == 0, decoded.stderr
    assert read_image((work / "y.png").read_bytes()).width == 512


def test_decode_to_stdout_writes_png(cli, work):
    data = nccli.encode(work / "x.png", "png")
    result = cli("decode", "-", stdin=data)
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(
        read_image(result.stdout).pixels, read_image((work / "x.png").read_bytes()).pixels
    )


def test_default_output_name_and_default_codec(cli, work):
    result = cli("encode", "x.png", cwd=work)
    assert result.returncode == 0 and b"note:" not in result.stderr
    header = container.loads((work / "x.ncc").read_bytes()).header
    assert header.codec == "nc-photo" and header.params["quality"] == 4
    assert cli("decode", "x.ncc", "-o", "out.tiff", cwd=work).returncode == 0
    assert (work / "out.tiff").exists()


def test_default_codec_hands_alpha_and_16_bit_images_to_codecs_that_keep_them(cli, work):
    rng = np.random.default_rng(0)
    write = {
        "rgba.png": rng.integers(0, 256, (24, 40, 4), dtype=np.uint8),
        "grey16.png": rng.integers(0, 65536, (24, 40, 1), dtype=np.uint16),
    }
    for name, pixels in write.items():
        (work / name).write_bytes(write_image(Image(pixels), ".png"))
    result = cli("encode", "rgba.png", "grey16.png", "x.png", "-o", "out", cwd=work)
    assert result.returncode == 0, result.stderr
    assert b"rgba.png has an alpha channel, which the default codec nc-photo" in result.stderr
    assert b"grey16.png has 16-bit samples" in result.stderr
    codecs = {
        name: container.loads((work / "out" / f"{name}.ncc").read_bytes()).header.codec
        for name in ("rgba", "grey16", "x")
    }
    assert codecs == {"rgba": "webp", "grey16": "png", "x": "nc-photo"}
    for name, pixels in write.items():  # alpha and 16-bit samples come back exactly
        decoded = nccli.decode_media(work / "out" / name.replace(".png", ".ncc")).media
        exact = pixels if name == "grey16.png" else pixels[..., 3:]
        np.testing.assert_array_equal(
            decoded.pixels if name == "grey16.png" else decoded.pixels[..., 3:], exact
        )
    quiet = cli("encode", "rgba.png", "-o", "q.ncc", "--quiet", cwd=work)
    assert quiet.returncode == 0 and quiet.stderr == b""


def test_default_codec_refuses_to_reinterpret_parameters_for_a_fallback(cli, work):
    pixels = np.full((96, 128, 4), 200, dtype=np.uint8)
    (work / "rgba.png").write_bytes(write_image(Image(pixels), ".png"))
    result = cli("encode", "rgba.png", "-o", "a.ncc", "-Q", "4", cwd=work)
    assert result.returncode == 2 and not (work / "a.ncc").exists()
    assert b"codec parameters (quality)" in result.stderr and b"--codec webp" in result.stderr
    by_rate = cli("encode", "rgba.png", "-o", "b.ncc", "--bpp", "1", cwd=work)
    assert by_rate.returncode == 0, by_rate.stderr
    assert container.loads((work / "b.ncc").read_bytes()).header.codec == "webp"


def test_strip_leaves_the_icc_profile_out(cli, work):
    assert cli("encode", "x.png", "-o", "kept.ncc", cwd=work).returncode == 0
    assert cli("encode", "x.png", "-o", "stripped.ncc", "--strip", cwd=work).returncode == 0
    kept = container.loads((work / "kept.ncc").read_bytes())
    stripped = container.loads((work / "stripped.ncc").read_bytes())
    assert kept.payloads(c.ICC_PROFILE) and not stripped.payloads(c.ICC_PROFILE)
    assert (work / "stripped.ncc").stat().st_size < (work / "kept.ncc").stat().st_size


def test_bpp_option(cli, work):
    result = cli("encode", "x.png", "-o", "x.ncc", "--codec", "jpeg", "--bpp", "0.5", cwd=work)
    assert result.returncode == 0, result.stderr
    assert (work / "x.ncc").stat().st_size * 8 / (512 * 384) <= 0.5


def test_batch_directory_to_directory(cli, work):
    photos = work / "photos"
    (photos / "sub").mkdir(parents=True)
    for name in ("a.png", "sub/b.png"):
        shutil.copy(work / "x.png", photos / name)
    (photos / "notes.txt").write_text("not an image")
    result = cli("encode", "photos", "-o", "encoded", "-c", "jpeg", cwd=work)
    assert result.returncode == 0, result.stderr
    assert files_in(work / "encoded") == {"a.ncc", "b.ncc"}
    result = cli("decode", "encoded", "-o", "decoded", "--format", "bmp", cwd=work)
    assert result.returncode == 0, result.stderr
    assert files_in(work / "decoded") == {"a.bmp", "b.bmp"}


def test_batch_goes_on_after_a_bad_file_and_reports_it(cli, work):
    (work / "bad.png").write_bytes(b"not really a png")
    result = cli("encode", "bad.png", "x.png", "-o", "out", cwd=work)
    assert result.returncode == 3
    assert files_in(work / "out") == {"x.ncc"}
    assert b"bad.png: not an image" in result.stderr


def test_batch_name_collision_is_refused(cli, work):
    shutil.copy(work / "x.png", work / "x.bmp")
    os.rename(work / "x.bmp", work / "x.tif")
    result = cli("encode", "x.png", "x.tif", "-o", "out", cwd=work)
    assert result.returncode == 2
    assert b"would both write" in result.stderr


def test_info_text_and_json(cli, work):
    data = nccli.encode(work / "x.png", "webp", metadata={"k": "v"})
    (work / "x.ncc").write_bytes(data)
    text = cli("info", "x.ncc", cwd=work)
    assert text.returncode == 0
    assert b"webp v1 quality=80" in text.stdout
    assert b"meta      k=v" in text.stdout
    report = json.loads(cli("info", "x.ncc", "--json", cwd=work).stdout)
    assert report["bytes"] == len(data)
    assert report["header"]["media"] == {"width": 512, "height": 384, "mode": "RGB", "bit_depth": 8}
    # the photograph carries an ICC profile, which travels in its own chunk
    assert [chunk["type"] for chunk in report["chunks"]] == ["HEAD", "DATA", "iccp", "indx", "TAIL"]
    assert sum(chunk["length"] + 12 for chunk in report["chunks"]) + 16 == len(data)
    several = json.loads(cli("info", "x.ncc", "x.ncc", "--json", cwd=work).stdout)
    assert len(several) == 2


def test_codecs_lists_names_parameters_and_availability(cli):
    listing = json.loads(cli("codecs", "--json").stdout)
    by_name = {entry["name"]: entry for entry in listing}
    assert {"jpeg", "webp", "avif", "jpeg2000", "png"} <= set(by_name)
    assert by_name["nc-photo"]["default"] and by_name["nc-photo"]["available"]
    assert not by_name["webp"]["default"] and by_name["webp"]["available"]
    assert by_name["webp"]["params"][0] == {
        "name": "quality",
        "type": "int",
        "low": 0,
        "high": 100,
        "default": 80,
        "help": "higher keeps more detail and spends more bits",
        "choices": [],
    }
    assert by_name["png"]["lossless"]
    table = cli("codecs")
    assert table.returncode == 0 and b"jpeg2000" in table.stdout


def test_eval_runs_codecs_and_writes_json_and_csv(cli, work):
    result = cli(
        "eval", "x.png", "-c", "webp", "-c", "png", "--json", "r.json", "--csv", "r.csv", cwd=work
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((work / "r.json").read_text())
    assert report["schema"] == "nccli.eval/1"
    assert report["passed"]
    webp, png = report["results"]
    assert webp["codec"] == "webp" and 30 < webp["psnr"] < 60 and 0 < webp["ms_ssim"] <= 1
    assert webp["bpp"] == pytest.approx(webp["bytes"] * 8 / (512 * 384))
    assert png["identical"] and png["psnr"] is None
    rows = list(csv.DictReader(io.StringIO((work / "r.csv").read_text())))
    assert [row["codec"] for row in rows] == ["webp", "png"]
    assert b"PSNR" in result.stdout


def test_eval_of_decoded_pairs_and_quality_gates(cli, work):
    (work / "x.ncc").write_bytes(nccli.encode(work / "x.png", "jpeg", quality=50))
    passing = cli("eval", "x.png", "--decoded", "x.ncc", "--fail-under", "psnr=25", cwd=work)
    assert passing.returncode == 0, passing.stderr
    failing = cli(
        "eval", "x.png", "--decoded", "x.ncc", "--fail-under", "psnr=60", "--json", "-", cwd=work
    )
    assert failing.returncode == 4
    assert b"quality gate failed" in failing.stderr
    report = json.loads(failing.stdout)
    assert not report["passed"] and report["gate_failures"]
    over = cli("eval", "x.png", "--decoded", "x.ncc", "--fail-over", "bpp=0.1", cwd=work)
    assert over.returncode == 4
    bad_gate = cli("eval", "x.png", "--decoded", "x.ncc", "--fail-under", "loudness=3", cwd=work)
    assert bad_gate.returncode == 2


def test_eval_compares_a_decoded_image_without_rate(cli, work):
    (work / "y.png").write_bytes(write_image(Image(synthetic(384, 512, 3)), ".png"))
    result = cli("eval", "x.png", "--decoded", "y.png", "--json", "-", cwd=work)
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)["results"][0]
    assert row["bpp"] is None and row["psnr"] < 20


def test_debug_shows_a_traceback_only_when_asked(cli, work):
    plain = cli("decode", "x.png", "-o", "y.png", cwd=work)
    assert plain.returncode == 3 and b"Traceback" not in plain.stderr
    debug = cli("--debug", "decode", "x.png", "-o", "y.png", cwd=work)
    assert debug.returncode == 3 and b"Traceback" in debug.stderr


def test_version_and_help(cli):
    assert cli("--version").stdout.startswith(b"nccli ")
    assert cli("--help").returncode == 0
    assert cli("encode", "--help").returncode == 0


# --- Bad input: a clear one-line error, the documented exit code, no partial output. -------


def flipped(data: bytes, position: int) -> bytes:
    buf = bytearray(data)
    buf[position] ^= 0x10
    return bytes(buf)


def newer_reader_file(data: bytes) -> bytes:
    body = c.SIGNATURE + struct.pack(">HH", 2, 2)
    return body + struct.pack(">I", zlib.crc32(body)) + data[16:]


def huge_header_file() -> bytes:
    media = {"width": 100000, "height": 100000, "mode": "RGB", "bit_depth": 8}
    return container.dumps(container.Header("png", 1, "image", media), [(c.DATA, b"")])


def audio_file() -> bytes:
    media = {"sample_rate": 48000, "channels": 2, "frames": 480, "sample_format": "s16"}
    return container.dumps(container.Header("opus", 1, "audio", media), [(c.DATA, b"x")])


BAD_DECODES = {
    "truncated": (lambda d: d[: len(d) // 2], 3, "data ends inside"),
    "flipped payload byte": (lambda d: flipped(d, 300), 3, "checksum mismatch"),
    "flipped signature byte": (lambda d: flipped(d, 2), 3, "not an .ncc file"),
    "flipped header byte": (lambda d: flipped(d, 40), 3, "checksum mismatch in HEAD"),
    "flipped tail byte": (lambda d: flipped(d, len(d) - 3), 3, "checksum mismatch in TAIL"),
    "newer reader needed": (newer_reader_file, 3, "reader of version 2 or newer"),
    "huge image header": (lambda d: huge_header_file(), 3, "100000x100000"),
    "audio file to png": (lambda d: audio_file(), 2, "cannot write audio as '.png'"),
    "an image, not .ncc": (lambda d: b"\x89PNG\r\n\x1a\n" + d, 3, "not an .ncc file"),
}


@pytest.mark.parametrize("case", BAD_DECODES)
def test_bad_ncc_inputs(cli, work, case):
    mutate, code, message = BAD_DECODES[case]
    good = nccli.encode(work / "x.png", "webp")
    (work / "bad.ncc").write_bytes(mutate(good))
    before = files_in(work)
    result = cli("decode", "bad.ncc", "-o", "out.png", cwd=work)
    assert result.returncode == code, result.stderr
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nccli: error: bad.ncc: ")
    assert message in lines[0]
    assert files_in(work) == before


@pytest.mark.parametrize(
    ("args", "setup", "code", "message"),
    [
        (["encode", "missing.png", "-o", "o.ncc"], None, 2, "missing.png: no such file"),
        (["encode", "adir", "-o", "o.ncc"], "dir", 2, "several inputs need -o to name a directory"),
        (["decode", "adir/", "-o", "o.png"], "emptydir", 2, "holds no input files"),
        (["encode", "junk.png", "-o", "o.ncc"], "junk", 3, "junk.png: not an image"),
        (["encode", "cut.png", "-o", "o.ncc"], "cut", 3, "cut.png: corrupt"),
        (["encode", "x.png", "-o", "exists.ncc"], "exists", 2, "already exists; pass --force"),
        (["encode", "x.png", "-o", "ro/o.ncc"], "readonly", 2, "cannot write in ro"),
        (["encode", "-", "-o", "o.ncc"], None, 3, "<stdin>: standard input is empty"),
        (["decode", "-", "-o", "o.png"], None, 3, "<stdin>: standard input is empty"),
        (["encode", "x.png", "-o", "o.ncc", "-c", "nope"], None, 2, "unknown codec 'nope'"),
        (["encode", "x.png", "-o", "o.ncc", "-Q", "500"], None, 2, "quality must lie in"),
        (["encode", "x.png", "-o", "o.ncc", "-Q", "5", "--bpp", "1"], None, 2, "not both"),
        (["encode", "x.png", "-o", "o.ncc", "-c", "jpeg", "--bpp", "0.0001"], None, 2, "reach"),
        (["encode", "rgba.png", "-o", "o.ncc", "-c", "jpeg"], "rgba", 2, "alpha"),
        (["encode", "x.png", "-o", "o.ncc", "--device", "tpu"], None, 2, "--device"),
        (["encode", "x.png", "-o", "o.ncc", "-p", "quality"], None, 2, "KEY=VALUE"),
        (["decode", "good.ncc", "-o", "o.gif"], "good", 2, "cannot write images as '.gif'"),
        (["decode", "good.ncc", "-o", "o.jpg"], "goodrgba", 2, "cannot hold the alpha"),
        (["info", "junk.png"], "junk", 3, "junk.png: not an .ncc file"),
        (["info", "adir"], "emptydir", 2, "adir: is a directory, expected a file"),
    ],
)
def test_bad_requests(cli, work, args, setup, code, message):
    if setup == "dir":
        (work / "adir").mkdir()
        shutil.copy(work / "x.png", work / "adir" / "a.png")
        (work / "o.ncc").write_text("a file, not a directory")
    elif setup == "emptydir":
        (work / "adir").mkdir()
    elif setup == "junk":
        (work / "junk.png").write_bytes(b"\x00" * 100)
    elif setup == "cut":
        (work / "cut.png").write_bytes((work / "x.png").read_bytes()[:5000])
    elif setup == "exists":
        (work / "exists.ncc").write_bytes(b"keep me")
    elif setup == "readonly":
        (work / "ro").mkdir()
        os.chmod(work / "ro", 0o500)
        if os.access(work / "ro", os.W_OK):  # root ignores modes; sysfs refuses even root
            args = [a.replace("ro/", "/sys/") for a in args]
            message = message.replace("ro", "/sys")
    elif setup == "rgba":
        (work / "rgba.png").write_bytes(write_image(Image(synthetic(16, 16, 4)), ".png"))
    elif setup in ("good", "goodrgba"):
        pixels = synthetic(16, 16, 4 if setup == "goodrgba" else 3)
        (work / "good.ncc").write_bytes(nccli.encode(pixels, "png"))
    before = {p: p.read_bytes() for p in work.rglob("*") if p.is_file()}
    result = cli(*args, cwd=work)
    assert result.returncode == code, result.stderr
    stderr = result.stderr.decode()
    assert message in stderr
    assert "Traceback" not in stderr
    after = {p: p.read_bytes() for p in work.rglob("*") if p.is_file()}
    assert after == before


def test_output_under_a_regular_file_is_refused(cli, work):
    (work / "plain").write_text("file")
    result = cli("encode", "x.png", "-o", "plain/sub/o.ncc", cwd=work)
    assert result.returncode == 2
    assert b"cannot write in plain/sub" in result.stderr


def test_force_overwrites_atomically(cli, work):
    (work / "x.ncc").write_bytes(b"old")
    assert cli("encode", "x.png", "-o", "x.ncc", "--force", cwd=work).returncode == 0
    assert (work / "x.ncc").read_bytes().startswith(c.SIGNATURE)
    assert not [p for p in work.iterdir() if p.name.endswith(".part")]


def test_unknown_option_is_a_usage_error(cli):
    assert cli("encode", "--bogus").returncode == 2


def test_eval_records_a_failing_file_and_goes_on(cli, work):
    photos = work / "photos"
    photos.mkdir()
    shutil.copy(work / "x.png", photos / "a.png")
    (photos / "b.png").write_bytes(b"broken")
    result = cli("eval", "photos", "-c", "jpeg", "--json", "r.json", cwd=work)
    assert result.returncode == 3
    report = json.loads((work / "r.json").read_text())
    good, bad = report["results"]
    assert good["error"] is None and good["psnr"] > 30
    assert "not an image" in bad["error"] and bad["exit_code"] == 3
    assert report["summary"][0]["failed_files"] == 1
    assert not report["passed"]
    assert b"b.png: not an image" in result.stderr
