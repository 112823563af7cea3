"""Audio I/O, the classical audio backends, streaming and the audio CLI."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile

from nccli import api, container
from nccli.audio import decode_audio, encode_audio, read_decoded
from nccli.codecs.audio import packets
from nccli.errors import InvalidInputError, UsageError
from nccli.media.audio import Audio, AudioInfo, open_audio, read_audio
from nccli.media.audio_writer import FlacWriter, WavWriter
from nccli.media.resample import Converter

NCCLI = [sys.executable, "-m", "nccli"]


def music(seconds: float, rate: int, channels: int, sample_format: str = "f32") -> Audio:
    """A deterministic chord with harmonics, a tremolo and a little noise."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(channels)
    lanes = []
    for channel in range(channels):
        tone = sum(
            0.12 / k * np.sin(2 * np.pi * f * k * t + channel)
            for f in (220.0, 277.2, 329.6)
            for k in (1, 2, 3)
        )
        tremolo = 0.75 + 0.25 * np.sin(2 * np.pi * 3 * t)
        lanes.append(tone * tremolo + 0.003 * rng.standard_normal(len(t)))
    return Audio(_in_format(np.stack(lanes, 1), sample_format), rate, sample_format)


def _in_format(samples: np.ndarray, sample_format: str) -> np.ndarray:
    if sample_format.startswith("f"):
        return samples.astype(np.float32)
    bits = 8 if sample_format in ("u8", "s8") else int(sample_format[1:])
    scale = 2.0 ** (bits - 1)
    return (np.clip(np.round(samples * scale), -scale, scale - 1) / scale).astype(np.float32)


def lag(reference: np.ndarray, decoded: np.ndarray, span: int = 400) -> int:
    """Shift of decoded against reference (first channel) with the least squared error."""
    window = slice(span, span + 8000)
    errors = [
        np.mean((decoded[span + shift : span + shift + 8000, 0] - reference[window, 0]) ** 2)
        for shift in range(-span, span)
    ]
    return int(np.argmin(errors)) - span


def snr(reference: np.ndarray, decoded: np.ndarray) -> float:
    noise = np.mean((reference.astype(np.float64) - decoded) ** 2)
    return float(10 * np.log10(np.mean(reference.astype(np.float64) ** 2) / max(noise, 1e-30)))


def wav_bytes(audio: Audio) -> bytes:
    buffer = io.BytesIO()
    writer = WavWriter(buffer, audio.info)
    writer.write(audio.samples)
    writer.close()
    return buffer.getvalue()


# --- media -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sample_format", "channels"),
    [("u8", 1), ("s16", 2), ("s24", 3), ("s32", 1), ("f32", 2), ("f64", 6)],
)
def test_wav_writer_round_trip_is_exact(sample_format: str, channels: int) -> None:
    audio = music(0.05, 22050, channels, sample_format)
    if sample_format == "s32":  # float32 holds 24 bits: s32 is exact for such values
        audio = music(0.05, 22050, channels, "s24")
        audio.sample_format = "s32"
    back = read_audio(io.BytesIO(wav_bytes(audio)))
    assert back.info == audio.info
    assert np.array_equal(back.samples, audio.samples)
    reference, _ = soundfile.read(io.BytesIO(wav_bytes(audio)), dtype="float32", always_2d=True)
    assert np.array_equal(reference, audio.samples)


def test_flac_writer_keeps_24_bits() -> None:
    audio = music(0.05, 44100, 2, "s24")
    buffer = io.BytesIO()
    writer = FlacWriter(buffer, audio.info)
    writer.write(audio.samples)
    writer.close()
    buffer.seek(0)
    back = read_audio(buffer)
    assert back.info == audio.info
    assert np.array_equal(back.samples, audio.samples)


def test_pyav_reads_aac_in_mp4(tmp_path: Path) -> None:
    path = tmp_path / "clip.m4a"
    source = music(1.0, 44100, 2)
    with av.open(str(path), "w") as output:
        stream = output.add_stream("aac", rate=44100, layout="stereo")
        for start in range(0, len(source.samples), 1024):
            block = np.ascontiguousarray(source.samples[start : start + 1024].T)
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = 44100, start
            frame.time_base = Fraction(1, 44100)
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    with open_audio(path) as opened:
        assert (opened.info.sample_rate, opened.info.channels) == (44100, 2)
        assert opened.info.sample_format == "f32"
        assert abs(opened.info.frames - 44100) <= 2048
        assert len(opened.read().samples) == opened.info.frames


def test_video_without_audio_track_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "silent.mp4"
    with av.open(str(path), "w") as output:
        stream = output.add_stream("mpeg4", rate=10)
        stream.width, stream.height = 64, 48
        for index in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            frame.pts = index
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    with pytest.raises(InvalidInputError, match="no audio track"):
        open_audio(path)


def test_bad_audio_inputs_are_named(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros((0, 1)), 8000)
    with pytest.raises(InvalidInputError, match="no audio samples"):
        open_audio(empty)
    broken = tmp_path / "nan.wav"
    samples = np.zeros((100, 1), np.float32)
    samples[42] = np.nan
    soundfile.write(broken, samples, 8000, subtype="FLOAT")
    with open_audio(broken) as opened, pytest.raises(InvalidInputError, match="frame 42"):
        list(opened.blocks())
    with pytest.raises(InvalidInputError, match="can read"):
        open_audio(io.BytesIO(b"this is no audio at all" * 20))


def test_absurd_rate_in_a_wav_header_is_refused() -> None:
    data = bytearray(wav_bytes(music(0.01, 8000, 1, "s16")))
    struct.pack_into("<I", data, 24, 4_000_000_000)  # fmt chunk: sample rate
    with pytest.raises(InvalidInputError):
        open_audio(io.BytesIO(bytes(data)))


def test_container_refuses_absurd_audio_headers() -> None:
    for media, match in [
        ({"sample_rate": 10**9, "channels": 1, "frames": 1, "sample_format": "s16"}, "rate"),
        ({"sample_rate": 8000, "channels": 100000, "frames": 1, "sample_format": "s16"}, "chan"),
        ({"sample_rate": 8000, "channels": 1, "frames": 0, "sample_format": "s16"}, "length"),
        ({"sample_rate": 8000, "channels": 1, "frames": 1, "sample_format": "s12"}, "format"),
    ]:
        header = container.Header("opus", 1, "audio", media)
        data = container.dumps(header, [])
        with pytest.raises(container.ContainerError, match=match):
            container.loads(data)


def test_converter_keeps_timing_and_mixes() -> None:
    clicks = np.zeros((48000, 2), np.float32)
    clicks[1200, 0] = clicks[2400, 1] = 1.0
    converter = Converter(48000, 2, 16000, 1)
    out = np.concatenate([converter.push(clicks[i : i + 999]) for i in range(0, 48000, 999)])
    out = np.concatenate([out, converter.flush()])
    assert out.shape == (16000, 1)
    peaks = np.argsort(-np.abs(out[:, 0]))[:2]
    assert sorted(peaks.tolist()) == [400, 800]
    up = Converter(8000, 1, 8000, 3)
    assert np.array_equal(up.push(np.ones((5, 1), np.float32)), np.ones((5, 3), np.float32))
    with pytest.raises(UsageError, match="mix"):
        Converter(8000, 12, 8000, 2)


# --- codecs ----------------------------------------------------------------------------


def round_trip(name: str, audio: Audio, **params: object) -> tuple[Audio, int]:
    data = api.encode(audio, name, **params)
    decoded = api.decode_media(data).media
    assert isinstance(decoded, Audio)
    assert decoded.info == audio.info
    return decoded, len(data)


@pytest.mark.parametrize(
    ("name", "rate", "channels", "params", "min_snr"),
    [
        ("opus", 48000, 2, {"bitrate": 96}, 12),
        ("opus", 16000, 1, {"bitrate": 24}, 10),
        ("aac", 44100, 2, {"bitrate": 128}, 15),
        ("mp3", 44100, 2, {"bitrate": 192}, 15),
        ("mp3", 22050, 1, {"bitrate": 64}, 10),
    ],
)
def test_lossy_codecs_align_and_restore_the_media(
    name: str, rate: int, channels: int, params: dict, min_snr: float
) -> None:
    audio = music(1.5, rate, channels, "s16")
    decoded, _ = round_trip(name, audio, **params)
    assert lag(audio.samples, decoded.samples) == 0
    assert snr(audio.samples, decoded.samples) > min_snr


def test_resampled_codec_rate_is_restored() -> None:
    audio = music(1.0, 44100, 1, "s16")
    decoded, _ = round_trip("opus", audio, bitrate=64)
    assert decoded.sample_rate == 44100
    assert abs(lag(audio.samples, decoded.samples)) <= 2
    assert snr(audio.samples, decoded.samples) > 10


def test_opus_bitrate_controls_size() -> None:
    audio = music(2.0, 48000, 2)
    sizes = [round_trip("opus", audio, bitrate=b)[1] for b in (12, 32, 96)]
    assert sizes == sorted(sizes) and sizes[2] > 3 * sizes[0]
    kbps = [s * 8 / 2.0 / 1000 for s in sizes]
    assert kbps[0] < 24


@pytest.mark.parametrize(
    ("rate", "channels", "sample_format"),
    [(48000, 2, "s16"), (44100, 1, "s24"), (96000, 3, "s24"), (8000, 1, "u8"), (11025, 2, "s8")],
)
def test_flac_is_bit_exact(rate: int, channels: int, sample_format: str) -> None:
    audio = music(0.7, rate, channels, sample_format)
    decoded, size = round_trip("flac", audio)
    assert np.array_equal(decoded.samples, audio.samples)
    assert size < audio.samples.size * 3


def test_codecs_refuse_what_they_cannot_keep() -> None:
    with pytest.raises(UsageError, match="lossless only"):
        api.encode(music(0.1, 8000, 1, "f32"), "flac")
    with pytest.raises(UsageError, match="at most 2 channels"):
        api.encode(music(0.1, 8000, 3, "s16"), "mp3")
    with pytest.raises(UsageError, match="bitrate must lie"):
        api.encode(music(0.1, 8000, 1, "s16"), "opus", bitrate=1)


@pytest.mark.parametrize("name", ["opus", "aac", "mp3", "flac"])
def test_a_single_sample_survives(name: str) -> None:
    audio = Audio(np.array([[0.25]], np.float32), 16000, "s16")
    decoded, _ = round_trip(name, audio)
    assert decoded.samples.shape == (1, 1)


def test_packet_table_round_trip_and_damage() -> None:
    run = [packets.Packet(-312 + 960 * i, 960, bytes([i]) * (i + 1)) for i in range(5)]
    run.append(packets.Packet(run[-1].pts + 960, 100, b"end"))
    assert packets.unpack(packets.pack(run)) == run
    payload = packets.pack(run)
    for broken in (payload[:3], payload[:-1], payload + b"x", b"\xff" * 12):
        with pytest.raises(container.ContainerError):
            packets.unpack(broken)


# --- streaming -------------------------------------------------------------------------


def encoded(audio: Audio, codec: str = "opus", **params: object) -> bytes:
    buffer = io.BytesIO()
    encode_audio(audio, buffer, codec, **params)
    return buffer.getvalue()


def test_payloads_are_about_a_second() -> None:
    data = encoded(music(5.0, 48000, 1))
    chunks = container.loads(data).payloads()
    assert 5 <= len(chunks) <= 7
    decoding = decode_audio(io.BytesIO(data))
    assert sum(len(b) for b in decoding.blocks()) == 5 * 48000


def test_decode_overrides_rate_and_channels() -> None:
    data = encoded(music(1.0, 48000, 2, "s16"), "flac")
    decoding = decode_audio(io.BytesIO(data), sample_rate=16000, channels=1)
    audio = read_decoded(decoding)
    assert audio.info == AudioInfo(16000, 1, 16000, "s16")
    with pytest.raises(UsageError, match="sample-rate"):
        decode_audio(io.BytesIO(data), sample_rate=10**7)


def test_truncated_stream_yields_the_intact_part_then_fails() -> None:
    audio = music(4.0, 16000, 1, "s16")
    data = encoded(audio, "flac")
    layout = container.loads(data).layout
    third_data = [c for c in layout if c.type == "DATA"][2]
    cut = data[: third_data.offset + 20]
    decoding = decode_audio(io.BytesIO(cut))
    blocks = []
    with pytest.raises(InvalidInputError, match=r"damaged after 2\.\d\d s \((\d+) of 64000") as err:
        for block in decoding.blocks():
            blocks.append(block)
    intact = np.concatenate(blocks)
    assert str(len(intact)) in str(err.value) and len(intact) > 30000
    assert np.array_equal(intact, audio.samples[: len(intact)])


# --- CLI -------------------------------------------------------------------------------


def nccli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*NCCLI, *args], input=stdin, capture_output=True, timeout=120)


def test_cli_restores_rate_channels_length_and_format(tmp_path: Path) -> None:
    source = tmp_path / "in.wav"
    audio = music(1.3, 44100, 2, "s24")
    source.write_bytes(wav_bytes(audio))
    done = nccli("encode", str(source), "-o", str(tmp_path / "a.ncc"), "--bitrate", "64k")
    assert done.returncode == 0, done.stderr
    assert b"kbit/s" in done.stderr
    done = nccli("decode", str(tmp_path / "a.ncc"))
    assert done.returncode == 0, done.stderr
    info = soundfile.info(tmp_path / "a.wav")
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (
        44100,
        2,
        len(audio.samples),
        "PCM_24",
    )
    done = nccli(
        "decode", str(tmp_path / "a.ncc"), "-o", str(tmp_path / "m.flac"), "--channels", "1"
    )
    assert done.returncode == 0, done.stderr
    assert soundfile.info(tmp_path / "m.flac").channels == 1


def test_cli_flac_through_pipes_is_bit_exact() -> None:
    audio = music(0.5, 32000, 2, "s16")
    encoded_stream = nccli("encode", "-", "-o", "-", "--codec", "flac", stdin=wav_bytes(audio))
    assert encoded_stream.returncode == 0, encoded_stream.stderr
    decoded_stream = nccli("decode", "-", "-o", "-", stdin=encoded_stream.stdout)
    assert decoded_stream.returncode == 0, decoded_stream.stderr
    samples, rate = soundfile.read(io.BytesIO(decoded_stream.stdout), dtype="float32")
    assert rate == 32000
    assert np.array_equal(samples, audio.samples)


def test_cli_refuses_bad_audio_requests(tmp_path: Path) -> None:
    source = tmp_path / "in.wav"
    source.write_bytes(wav_bytes(music(0.2, 8000, 1, "s16")))
    assert nccli("encode", str(source), "--bitrate", "fast").returncode == 2
    assert nccli("encode", str(source), "--bpp", "1").returncode == 2
    nccli("encode", str(source), "-o", str(tmp_path / "a.ncc"))
    flac_pipe = nccli("decode", str(tmp_path / "a.ncc"), "-o", "-", "--format", "flac")
    assert flac_pipe.returncode == 2 and b"pipe" in flac_pipe.stderr
    as_png = nccli("decode", str(tmp_path / "a.ncc"), "-o", str(tmp_path / "x.png"))
    assert as_png.returncode == 2 and b"cannot write audio" in as_png.stderr
    assert not (tmp_path / "x.png").exists()


def test_cli_keeps_the_intact_part_of_a_truncated_file(tmp_path: Path) -> None:
    data = encoded(music(3.0, 16000, 1, "s16"), "flac")
    last = [c for c in container.loads(data).layout if c.type == "DATA"][-1]
    (tmp_path / "cut.ncc").write_bytes(data[: last.offset + 10])
    done = nccli("decode", str(tmp_path / "cut.ncc"), "-o", str(tmp_path / "out.wav"))
    assert done.returncode == 3
    assert b"damaged after 2." in done.stderr and b"intact part" in done.stderr
    assert 2 * 16000 <= soundfile.info(tmp_path / "out.wav").frames < 3 * 16000


def test_decoding_from_a_pipe_writes_before_the_input_ends() -> None:
    """A slow producer sends half the file, then waits until output has appeared."""
    data = encoded(music(6.0, 48000, 2, "s16"), "flac")
    half = [c for c in container.loads(data).layout if c.type == "DATA"][3].offset
    process = subprocess.Popen(
        [*NCCLI, "decode", "-", "-o", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    output_seen = threading.Event()
    waited = []

    def produce() -> None:
        process.stdin.write(data[:half])
        process.stdin.flush()
        waited.append(output_seen.wait(60))
        process.stdin.write(data[half:])
        process.stdin.close()

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        first = process.stdout.read1(1 << 16)
        output_seen.set()
        rest = process.stdout.read()
        producer.join(60)
        assert process.wait(60) == 0
    finally:
        output_seen.set()
        process.kill()
    assert waited == [True], "no output while the input was still open"
    assert first.startswith(b"RIFF")
    samples, _ = soundfile.read(io.BytesIO(first + rest), dtype="float32")
    assert len(samples) == 6 * 48000
