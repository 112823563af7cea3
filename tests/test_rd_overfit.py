"""scripts/rd_overfit.py: encodes made on one machine (a lent GPU) reported on another, and
kept while the encoder's code is unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import load_script
from PIL import Image

from nccli.evaluation.bd import BDEntry

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "rd_overfit.py"
CUPS = ROOT / "tests" / "fixtures" / "photos" / "cups.png"


def rd_overfit(photos: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    """The script's run; reports into one ``out`` share a result cache (out/home)."""
    command = [sys.executable, SCRIPT, "--photos", photos, "--out", out, "--efforts", "10"]
    env = {**os.environ, "NCCLI_HOME": str(out / "home")}
    return subprocess.run([*command, *args], capture_output=True, text=True, cwd=ROOT, env=env)


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> tuple[Path, Path, dict]:
    """A photo and the encodes file of a run on this CPU, relabelled as a GPU machine's."""
    photos, out = tmp_path_factory.mktemp("photos"), tmp_path_factory.mktemp("out")
    Image.open(CUPS).crop((0, 0, 64, 48)).save(photos / "cups.png")
    run = rd_overfit(photos, out, "--qualities", "4", "--encodes-only")
    assert run.returncode == 0, run.stderr
    assert not (out / "overfit-rd.md").exists()  # encodes only
    path = out / "overfit-rd.encodes.json"
    (key, entry), *others = json.loads(path.read_text()).items()
    assert not others
    digest, device, _, rest = key.split(" ", 3)
    assert device == "cpu"
    relabelled = {f"{digest} cuda:0 16 {rest}": entry}
    path.write_text(json.dumps(relabelled))
    return photos, out, entry


def test_encodes_made_elsewhere_are_reported_without_encoding_again(stored):
    photos, out, entry = stored
    before = (out / "overfit-rd.encodes.json").read_text()
    run = rd_overfit(photos, out, "--qualities", "4", "--encoded-on", "cuda:0")
    assert run.returncode == 0, run.stderr
    assert (out / "overfit-rd.encodes.json").read_text() == before
    report = json.loads((out / "overfit-rd.json").read_text())
    assert (report["device"], report["threads"]) == ("cuda:0", 16)
    (row,) = [r for r in report["results"] if r["codec"] == "nc-overfit 10"]
    assert (row["bytes"], row["psnr"]) == (entry["bytes"], entry["psnr"])
    assert {r["codec"] for r in report["results"]} >= {"webp", "avif", "nc-photo"}
    markdown = (out / "overfit-rd.md").read_text()
    assert "cuda:0, 16 threads" in markdown
    (means,) = [line for line in markdown.splitlines() if line.startswith("| nc-overfit 10 ")]
    anchored = entry["encode_s"] / entry["webp_encode_s"]
    assert means.split(" | ")[5] == f"{anchored:.0f}"  # the encode over WebP's, beside it
    (cups,) = [line for line in markdown.splitlines() if line.startswith("| cups | 10 |")]
    assert cups.count("needs two rate points per codec") == 5  # one quality: no curve
    assert set(report["bd_rates_per_photo"]) == {"nc-photo", "webp", "jpeg", "avif", "jpeg2000"}


def test_a_second_report_takes_the_anchors_from_the_cache(stored):
    photos, out, _ = stored
    anchors, markdowns = [], []  # the first run may find the cache filled by the test above
    for args in ([], [], ["--no-cache"]):
        run = rd_overfit(photos, out, "--qualities", "4", "--encoded-on", "cuda:0", *args)
        assert run.returncode == 0, run.stderr
        report = json.loads((out / "overfit-rd.json").read_text())
        anchors.append([r for r in report["results"] if r["codec"] != "nc-overfit 10"])
        markdowns.append((out / "overfit-rd.md").read_text())
    first, second, fresh = anchors
    assert all(r["cached"] for r in second) and not any(r["cached"] for r in fresh)
    assert [{**r, "cached": False} for r in first + second] == fresh + fresh
    assert f"{len(fresh)} of {len(fresh)} anchor results from the cache" in markdowns[1]
    assert f"0 of {len(fresh)} anchor results" in markdowns[2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--qualities", "5", "--encoded-on", "cuda:0"], "holds no encode of cups.png"),
        (["--qualities", "4", "--encoded-on", "cuda:1"], "0 thread counts"),
        (["--encodes-only", "--encoded-on", "cuda:0"], "not allowed with"),
    ],
)
def test_what_was_not_encoded_there_is_refused(stored, args, message):
    photos, out, _ = stored
    run = rd_overfit(photos, out, *args)
    assert run.returncode != 0 and message in run.stderr


def test_encode_times_are_read_against_webp_where_every_encode_has_its_anchor():
    timing = load_script("rd_overfit").timing
    anchored = {"encode_s": 300.0, "decode_s": 0.125, "webp_encode_s": 0.25}
    older = {"encode_s": 500.0, "decode_s": 0.375}  # stored before the anchor was
    assert timing([anchored, {**anchored, "encode_s": 500.0}]) == [400.0, 0.125, 1600.0]
    assert timing([anchored, older]) == [400.0, 0.25, None]


def test_each_bd_rate_names_the_psnr_interval_it_speaks_of():
    psnr_span = load_script("rd_overfit").psnr_span
    entries = [
        BDEntry("nc-overfit fast", "webp", "psnr", -21.6, 32.43, 35.94, 0.4),
        BDEntry("nc-overfit fast", "webp", "ms_ssim", -6.6, 0.9, 0.95, 0.5),
        BDEntry("nc-overfit default", "webp", "psnr", None, note="needs two rate points"),
    ]
    assert psnr_span(entries, "nc-overfit fast") == "32.4-35.9"
    assert psnr_span(entries, "nc-overfit default") == "-"


CODE = '''"""Module."""
import x


def f(a):
    """Doc."""
    # note
    return g(a, 1)  # one
'''
SAME_CODE = [
    '''"""Edited."""
import x

def f(a):
  """Two
  lines."""
  return g(a,
    1)
''',
    "import x\ndef f(a):\n    return g(a, 1)\n",
]
OTHER_CODE = [
    "import x\ndef f(a):\n    return g(a, 2)\n",
    "import x\ndef f(a):\n    return g(a, '1')\n",
    "import x\ndef f(a):\n    'Doc.'.strip()\n    return g(a, 1)\n",  # a string in code
]


def test_the_encoder_digest_sees_code_not_comments_or_docstrings():
    code_tokens = load_script("rd_overfit").code_tokens
    tokens = code_tokens(CODE.encode())
    assert all(code_tokens(source.encode()) == tokens for source in SAME_CODE)
    assert all(code_tokens(source.encode()) != tokens for source in OTHER_CODE)
