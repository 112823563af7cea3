"""`nccli eval` on audio: kbit/s from real file sizes, SI-SDR, distances, STOI and PESQ,
sweeps with BD-rate, --decoded comparisons, gates, baselines and --verify."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile
from conftest import FIXTURES, folder_with, report_of

from nccli.evaluation.cache import ResultCache
from nccli.evaluation.runner import Task, run

SPEECH = FIXTURES / "audio" / "speech.flac"
SECONDS = soundfile.info(SPEECH).frames / 16000
AUDIO_METRICS = {"kbps", "si_sdr", "mel_distance", "stft_distance", "stoi", "pesq"}


@pytest.fixture
def speech(tmp_path: Path) -> Path:
    return folder_with(tmp_path / "speech", SPEECH)


def test_an_ffmpeg_codec_result_is_cached_per_pyav_version(monkeypatch, tmp_path):
    cache, task = ResultCache(tmp_path), Task(str(SPEECH), "opus", (("bitrate", 24.0),))
    assert [run(task, cache).cached for _ in range(2)] == [False, True]
    monkeypatch.setattr(av, "__version__", "0.1")
    assert not run(task, cache).cached


def test_opus_sweep_against_lossless_flac(cli, speech):
    report = report_of(
        cli("eval", speech, "-c", "opus", "-c", "flac", "--qualities", "8,24,64", "--json", "-")
    )
    rows = report["results"]
    assert [r["setting"] for r in rows] == [
        "opus bitrate=8.0",
        "opus bitrate=24.0",
        "opus bitrate=64.0",
        "flac level=5",
    ]
    for row in rows:
        assert row["modality"] == "audio" and row["error"] is None
        assert row.keys() >= AUDIO_METRICS and not {"bpp", "psnr", "ms_ssim"} & row.keys()
        assert row["kbps"] == pytest.approx(row["bytes"] * 8 / SECONDS / 1000)
    opus, flac = rows[:3], rows[3]
    assert [r["kbps"] for r in opus] == sorted(r["kbps"] for r in opus)
    assert opus[0]["pesq"] < opus[-1]["pesq"] and opus[0]["stoi"] < opus[-1]["stoi"]
    assert opus[0]["mel_distance"] > opus[-1]["mel_distance"] > 0
    assert opus[0]["stft_distance"] > opus[-1]["stft_distance"] > 0
    # FLAC is lossless: no distance, perfect intelligibility and PESQ's ceiling.
    assert flac["si_sdr"] > 100 and flac["mel_distance"] == flac["stft_distance"] == 0
    assert flac["stoi"] == pytest.approx(1) and flac["pesq"] == pytest.approx(4.64, abs=0.01)
    assert 100 < flac["kbps"] < 256  # below 16-bit PCM's 256 kbit/s
    means = {s["setting"]: s["means"] for s in report["summary"]}
    assert set(means["flac level=5"]) == AUDIO_METRICS | {"visqol"}  # null unless --visqol


def test_bd_rate_on_the_kbps_axis_with_distances_negated(cli, speech):
    result = cli("eval", speech, "-c", "opus", "-c", "aac", "--qualities", "24,32,48,64",
                 "--anchor", "opus", "--json", "-")  # fmt: skip
    entries = {e["metric"]: e for e in report_of(result)["bd_rates"]}
    assert set(entries) == AUDIO_METRICS - {"kbps"}
    assert all(e["codec"] == "aac" and e["anchor"] == "opus" for e in entries.values())
    # Opus is the better speech codec at these rates: AAC needs more bits for the same
    # mel distance, and the negated scale keeps that a positive BD-rate.
    assert entries["mel_distance"]["bd_rate"] > 0
    assert entries["mel_distance"]["low"] < entries["mel_distance"]["high"] < 0


def test_tables_csv_and_markdown_name_the_audio_metrics(cli, speech):
    result = cli("eval", speech, "-c", "opus", "--bitrate", "24k")
    assert result.returncode == 0, result.stderr
    table = result.stdout.decode()
    for label in ("kbit/s", "SI-SDR", "mel dist.", "STFT dist.", "STOI", "PESQ-WB"):
        assert label in table
    assert "PSNR" not in table
    rows = list(csv.DictReader(io.StringIO(cli("eval", speech, "-c", "opus", "--csv", "-")
                                           .stdout.decode())))  # fmt: skip
    assert list(rows[0]) == ["input", "setting", "codec", "params", "bytes", "kbps", "si_sdr",
                             "mel_distance", "stft_distance", "stoi", "pesq", "error"]  # fmt: skip
    markdown = cli("eval", speech, "-c", "opus", "--markdown", "-").stdout.decode()
    assert markdown.startswith("| setting | files | kbit/s | SI-SDR (dB) |")


def test_decoded_ncc_and_wav_are_compared(cli, speech, tmp_path):
    ncc, wav = tmp_path / "speech.ncc", tmp_path / "out" / "speech.wav"
    assert (
        cli(
            "encode", speech / "speech.flac", "-o", ncc, "-c", "opus", "--bitrate", "16k"
        ).returncode
        == 0
    )
    assert cli("decode", ncc, "-o", wav).returncode == 0
    from_ncc = report_of(cli("eval", speech, "--decoded", ncc, "--json", "-"))["results"][0]
    assert from_ncc["codec"] == "opus" and from_ncc["kbps"] == pytest.approx(
        ncc.stat().st_size * 8 / SECONDS / 1000
    )
    from_wav = report_of(cli("eval", speech, "--decoded", wav.parent, "--json", "-"))["results"][0]
    assert from_wav["kbps"] is None and from_wav["bytes"] is None
    for metric in ("si_sdr", "mel_distance", "stoi", "pesq"):
        assert from_wav[metric] == pytest.approx(from_ncc[metric], rel=1e-3, abs=1e-3)


def test_gates_and_baselines_on_audio_metrics(cli, speech, tmp_path):
    args = ("eval", speech, "-c", "opus", "--bitrate", "16000")
    assert cli(*args, "--fail-under", "pesq=1.5", "--fail-over", "mel=5").returncode == 0
    failed = cli(*args, "--fail-under", "pesq=4.6")
    assert failed.returncode == 4 and b"mean pesq" in failed.stderr
    failed = cli(*args, "--fail-over", "mel_distance=0.01")
    assert failed.returncode == 4 and b"mean mel_distance" in failed.stderr
    baseline = tmp_path / "base.json"
    assert cli(*args, "--json", baseline).returncode == 0
    assert cli(*args, "--baseline", baseline).returncode == 0
    worse = cli("eval", speech, "-c", "opus", "--bitrate", "12", "--baseline", baseline)
    assert worse.returncode == 4  # another setting: listed as missing and unexpected
    stored = json.loads(baseline.read_text())
    stored["results"][0]["pesq"] += 0.5
    stored["results"][0]["mel_distance"] -= 0.1
    baseline.write_text(json.dumps(stored))
    regressed = cli(*args, "--baseline", baseline, "--tolerance", "pesq=0.1")
    assert regressed.returncode == 4
    text = regressed.stderr.decode()
    assert "pesq" in text and "mel_distance" in text
    allowed = cli(*args, "--baseline", baseline, "--tolerance", "pesq=0.6",
                  "--tolerance", "mel_distance=0.2")  # fmt: skip
    assert allowed.returncode == 0, allowed.stderr


def test_verify_decodes_audio_in_a_fresh_process(cli, speech):
    report = report_of(cli("eval", speech, "-c", "opus", "-c", "flac", "--verify", "--json", "-"))
    assert [r["verified"] for r in report["results"]] == [True, True] and report["passed"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-c", "webp"], "speech: directory holds no image files"),
        (["--bitrate", "24k", "--qualities", "8"], "give --bitrate or --qualities, not both"),
        (["--bitrate", "fast"], "--bitrate takes e.g. 24k"),
        (["-c", "opus", "-c", "webp"], "the codecs mix audio and image"),
        (["-c", "opus", "--bpp", "0.5"], "--bpp and --quality are for images"),
        (["-Q", "5"], "--bpp and --quality are for images"),
        (["-c", "opus", "--fail-under", "psnr=30"], "psnr is not measured for audio"),
        (["-c", "opus", "--qualities", "2"], "bitrate"),
    ],
)
def test_bad_audio_eval_options(cli, speech, args, message):
    result = cli("eval", speech, *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr.decode()


def test_mixed_inputs_and_mismatched_decoded_audio(cli, speech, photo_path, tmp_path):
    result = cli("eval", speech / "speech.flac", photo_path)
    assert result.returncode == 2 and b"mix images and audio" in result.stderr
    result = cli("eval", speech / "speech.flac", "-c", "webp")
    assert result.returncode == 2 and b"speech.flac is not image, which the codecs" in result.stderr
    result = cli("eval", photo_path, "--bitrate", "24k")
    assert result.returncode == 2 and b"--bitrate is for audio" in result.stderr
    samples, rate = soundfile.read(SPEECH)
    for name, data, written_rate, message in (
        ("rate.wav", samples, 8000, "sample rates differ: reference 16000 Hz, decoded 8000 Hz"),
        ("length.wav", samples[:-1], rate, "lengths differ"),
        ("channels.wav", np.stack([samples, samples], 1), rate, "channel counts differ"),
    ):
        soundfile.write(tmp_path / name, data, written_rate)
        result = cli("eval", speech, "--decoded", tmp_path / name)
        assert result.returncode == 2 and message in result.stderr.decode(), result.stderr


def test_visqol_on_request(cli, speech, photo_path):
    plain = report_of(cli("eval", speech, "-c", "opus", "--json", "-"))["results"][0]
    assert plain["visqol"] is None
    assert "ViSQOL" not in cli("eval", speech, "-c", "opus").stdout.decode()
    args = ("eval", speech, "-c", "opus", "-c", "flac", "--bitrate", "8k,32k", "--visqol")
    report = report_of(cli(*args, "--anchor", "opus", "--json", "-"))
    low, high, flac = (r["visqol"] for r in report["results"])
    assert 1 < low < high < flac and flac == pytest.approx(4.73, abs=0.02)
    assert "visqol" in {e["metric"] for e in report["bd_rates"]}
    again = report_of(cli(*args, "--json", "-"))["results"]
    assert all(r["cached"] for r in again)
    assert [r["visqol"] for r in again] == [low, high, flac]
    columns = cli(*args, "--csv", "-").stdout.decode().splitlines()[0].split(",")
    assert columns[-2:] == ["visqol", "error"]
    assert cli(*args, "--fail-under", "visqol=1").returncode == 0
    result = cli("eval", speech, "-c", "opus", "--fail-under", "visqol=1")
    assert result.returncode == 2 and b"needs --visqol" in result.stderr
    result = cli("eval", photo_path, "--visqol")
    assert result.returncode == 2 and b"--visqol is for audio" in result.stderr
