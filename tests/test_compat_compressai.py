"""nccli's image models against the `compressai` package itself, with the same random weights.

For each architecture at two qualities: y, y_hat, x_hat and the likelihoods agree within
1e-5 (relative to the largest magnitude), nccli's payload is at most 1% larger than the
total length of CompressAI's own compress() strings, and with the float hyper-synthesis
(CompressAI's way) both decode to the same image. mbt2018 codes on the exact path only
and so does cheng2020-anchor (their means steer the context model): their decodes match
CompressAI's within 0.01 dB PSNR.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import COMPAT, run_compat
from skimage import data

TOLERANCE = 1e-5

pytestmark = pytest.mark.skipif(
    not (COMPAT / "compressai").is_dir(), reason="CompressAI is installed by `make install`"
)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict[str, dict[str, float]]:
    image = tmp_path_factory.mktemp("compat") / "image.npy"
    np.save(image, data.astronaut()[128:384, 128:384], allow_pickle=False)
    output = run_compat(Path(__file__).parent / "compat" / "compare_compressai.py", image)
    return json.loads(output.strip().splitlines()[-1])


CASES = [
    f"{a} q{q}"
    for a in (
        "bmshj2018-factorized",
        "bmshj2018-hyperprior",
        "mbt2018-mean",
        "mbt2018",
        "cheng2020-anchor",
    )
    for q in (1, 6)
]


@pytest.mark.parametrize("case", CASES)
def test_same_tensors_as_compressai(report, case):
    values = report[case]
    if case.startswith(("mbt2018 ", "cheng2020-anchor ")):
        assert values["decoded_psnr_gap"] <= 0.01
    for key in (
        ("y", "y_hat", "x_hat", "decoded") if "decoded" in values else ("y", "y_hat", "x_hat")
    ):
        assert values[key] <= TOLERANCE, (key, values[key])
    likelihoods = [k for k in values if k.startswith("likelihoods_")]
    assert likelihoods
    for key in likelihoods:
        assert values[key] <= TOLERANCE, (key, values[key])


@pytest.mark.parametrize("case", CASES)
def test_payload_no_larger_than_compressai(report, case):
    assert report[case]["bytes_ratio"] <= 1.01
    assert report[case].get("float_bytes_ratio", 1.0) <= 1.01
