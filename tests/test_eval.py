"""`nccli eval` for CI: sweeps, caching, parallel runs, BD-rate, reports, baselines, --verify."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import PIL.features
import pytest
from conftest import folder_with, report_of

from nccli.codecs.base import get_codec
from nccli.evaluation.cache import ResultCache
from nccli.evaluation.runner import Task, run


@pytest.fixture
def photos(tmp_path: Path, photo_path: Path) -> Path:
    return folder_with(tmp_path / "photos", photo_path)


def test_sweep_runs_each_codec_over_its_range_with_bd_rate(cli, photos):
    result = cli(
        "eval", photos, "-c", "jpeg", "-c", "webp", "--sweep", "--anchor", "jpeg", "--json", "-"
    )
    report = report_of(result)
    settings = [s["setting"] for s in report["summary"]]
    assert len(settings) == len(get_codec("jpeg").sweep) + len(get_codec("webp").sweep)
    rates = [s["means"]["bpp"] for s in report["summary"][:6]]
    assert rates == sorted(rates)
    by_metric = {e["metric"]: e for e in report["bd_rates"]}
    assert set(by_metric) == {"psnr", "psnr_y", "ms_ssim"}
    assert all(e["codec"] == "webp" and e["anchor"] == "jpeg" for e in by_metric.values())
    assert by_metric["psnr"]["bd_rate"] < -10  # WebP beats JPEG on this photograph
    assert 0 < by_metric["psnr"]["overlap"] <= 1


def test_qualities_and_several_bpp_targets(cli, photos):
    report = report_of(cli("eval", photos, "-c", "avif", "--qualities", "30,60", "--json", "-"))
    assert [r["request"]["quality"] for r in report["results"]] == [30, 60]
    report = report_of(cli("eval", photos, "-c", "jpeg", "--bpp", "0.5,1", "--json", "-"))
    assert [r["request"] for r in report["results"]] == [{"bpp": 0.5}, {"bpp": 1.0}]
    assert all(r["bpp"] <= r["request"]["bpp"] for r in report["results"])
    assert cli("eval", photos, "-c", "png", "--sweep", "--json", "-").returncode == 0


def test_results_are_cached_per_file_codec_and_parameters(cli, photos):
    first = report_of(cli("eval", photos, "-c", "webp", "--qualities", "40,60", "--json", "-"))
    assert not any(r["cached"] for r in first["results"])
    second = report_of(cli("eval", photos, "-c", "webp", "--qualities", "40,60,80", "--json", "-"))
    assert [r["cached"] for r in second["results"]] == [True, True, False]
    for old, new in zip(first["results"], second["results"], strict=False):
        assert (old["bytes"], old["psnr"], old["ms_ssim"]) == (
            new["bytes"],
            new["psnr"],
            new["ms_ssim"],
        )
    fresh = report_of(
        cli("eval", photos, "-c", "webp", "--qualities", "40", "--no-cache", "--json", "-")
    )
    assert not fresh["results"][0]["cached"]
    (photos / "cups.png").write_bytes((photos / "cups.png").read_bytes() + b"\x00")  # new hash
    changed = report_of(cli("eval", photos, "-c", "webp", "--qualities", "40", "--json", "-"))
    assert not changed["results"][0]["cached"]


def test_a_pillow_codec_result_is_cached_per_library_version(photo_path, monkeypatch, tmp_path):
    cache, task = ResultCache(tmp_path), Task(str(photo_path), "webp", (("quality", 40),))
    assert [run(task, cache).cached for _ in range(2)] == [False, True]
    version = PIL.features.version
    monkeypatch.setattr(PIL.features, "version", lambda f: "0.1" if f == "webp" else version(f))
    assert not run(task, cache).cached


def test_parallel_jobs_give_the_same_results(cli, photos):
    shutil.copy(photos / "cups.png", photos / "second.png")
    args = ("eval", photos, "-c", "jpeg", "-c", "webp", "--no-cache", "--json", "-")
    serial = report_of(cli(*args))
    parallel = report_of(cli(*args, "--jobs", "2"))
    strip = [{k: v for k, v in r.items() if k != "cached"} for r in serial["results"]]
    assert strip == [{k: v for k, v in r.items() if k != "cached"} for r in parallel["results"]]


def test_markdown_and_plots(cli, photos, tmp_path):
    result = cli(
        "eval",
        photos,
        "-c",
        "jpeg",
        "-c",
        "webp",
        "--qualities",
        "30,70",
        "--anchor",
        "jpeg",
        "--markdown",
        tmp_path / "summary.md",
        "--plot",
        tmp_path / "plots",
    )
    assert result.returncode == 0, result.stderr
    markdown = (tmp_path / "summary.md").read_text()
    assert "| jpeg quality=30 |" in markdown and "BD-rate against jpeg" in markdown
    names = {p.name for p in (tmp_path / "plots").iterdir()}
    assert names == {f"rd-{m}.{s}" for m in ("psnr", "psnr_y", "ms_ssim") for s in ("png", "svg")}
    assert (tmp_path / "plots" / "rd-psnr.png").read_bytes().startswith(b"\x89PNG")


def test_plots_without_matplotlib_say_how_to_get_it(cli, photos, tmp_path):
    shim = tmp_path / "shim" / "matplotlib"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('hidden for this test')\n")
    result = cli(
        "eval", photos, "--plot", tmp_path / "plots", env={"PYTHONPATH": str(tmp_path / "shim")}
    )
    assert result.returncode == 2
    assert "pip install 'nccli[plot]'" in result.stderr.decode()


def test_baseline_passes_unchanged_and_lists_regressions(cli, photos, tmp_path):
    baseline = tmp_path / "baseline.json"
    assert cli("eval", photos, "-c", "webp", "--json", baseline).returncode == 0
    same = cli("eval", photos, "-c", "webp", "--baseline", baseline, "--tolerance", "psnr=0.05")
    assert same.returncode == 0, same.stderr
    assert b"no regression" in same.stderr

    data = json.loads(baseline.read_text())
    data["results"][0]["psnr"] += 0.5  # the stored run was better than today's
    data["results"][0]["bpp"] *= 0.95
    baseline.write_text(json.dumps(data))
    worse = cli(
        "eval",
        photos,
        "-c",
        "webp",
        "--baseline",
        baseline,
        "--tolerance",
        "psnr=0.05",
        "--tolerance",
        "bpp=1%",
        "--json",
        tmp_path / "r.json",
    )
    assert worse.returncode == 4
    assert b"regressions against the baseline" in worse.stderr
    regressions = json.loads((tmp_path / "r.json").read_text())["baseline"]["regressions"]
    assert {r["metric"] for r in regressions} == {"psnr", "bpp"}
    loose = cli(
        "eval",
        photos,
        "-c",
        "webp",
        "--baseline",
        baseline,
        "--tolerance",
        "psnr=1",
        "--tolerance",
        "bpp=6%",
    )
    assert loose.returncode == 0, loose.stderr


def test_baseline_file_set_mismatch_is_listed(cli, photos, tmp_path):
    baseline = tmp_path / "baseline.json"
    assert cli("eval", photos, "-c", "webp", "--json", baseline).returncode == 0
    shutil.copy(photos / "cups.png", photos / "extra.png")
    result = cli("eval", photos, "-c", "webp", "--baseline", baseline)
    assert result.returncode == 4
    assert b"this run has a result the baseline lacks" in result.stderr
    assert b"extra.png" in result.stderr


@pytest.mark.parametrize(
    ("content", "code", "message"),
    [
        ('{"schema": "nccli.eval/0", "results": []}', 3, "schema 'nccli.eval/0'"),
        ("not json", 3, "not a JSON report"),
        ('{"schema": "nccli.eval/1", "results": 5}', 3, "must be a list"),
        (None, 2, "no such file"),
    ],
)
def test_bad_baselines(cli, photos, tmp_path, content, code, message):
    baseline = tmp_path / "baseline.json"
    if content is not None:
        baseline.write_text(content)
    result = cli("eval", photos, "-c", "webp", "--baseline", baseline)
    assert result.returncode == code
    assert message in result.stderr.decode()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tolerance", "psnr=0.1"], "--tolerance needs --baseline"),
        (["--baseline", "b.json", "--tolerance", "loud=1"], "METRIC=VALUE or METRIC=PERCENT%"),
        (["--baseline", "b.json", "--tolerance", "psnr=-1"], ">= 0"),
        (["--anchor", "avif"], "--anchor avif is not one of the codecs run"),
        (["--sweep", "--bpp", "1"], "not several"),
        (["--qualities", ","], "comma-separated"),
        (["--bpp", "zero"], "--bpp takes numbers"),
        (["--jobs", "0"], "jobs"),
        (["--json", "-", "--csv", "-"], "only one of"),
    ],
)
def test_bad_eval_options(cli, photos, tmp_path, args, message):
    (tmp_path / "b.json").write_text('{"schema": "nccli.eval/1", "results": []}')
    result = cli("eval", photos, "-c", "webp", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr.decode()


def test_verify_decodes_every_file_in_a_fresh_process(cli, photos):
    report = report_of(cli("eval", photos, "-c", "webp", "-c", "png", "--verify", "--json", "-"))
    assert [r["verified"] for r in report["results"]] == [True, True]
    assert report["passed"]


def test_bench_reports_speed_ratios_and_memory(cli, photo_path):
    result = cli(
        "bench",
        photo_path,
        "-c",
        "jpeg",
        "-c",
        "webp",
        "--repeat",
        "2",
        "--warmup",
        "0",
        "--anchor",
        "jpeg",
        "--json",
        "-",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["schema"] == "nccli.bench/1"
    jpeg, webp = report["results"]
    for entry in (jpeg, webp):
        assert entry["encode"]["runs"] == 2
        assert entry["encode"]["low"] <= entry["encode"]["median"] <= entry["encode"]["high"]
        assert entry["decode"]["median"] > 0 and entry["peak_rss_mib"] > 10
    assert jpeg["params"] == {"quality": 85}
    table = cli("bench", photo_path, "-c", "jpeg", "-c", "png", "--repeat", "1", "--anchor", "jpeg")
    assert b"enc / jpeg" in table.stdout
    assert cli("bench", photo_path, "-c", "nope").returncode == 2
