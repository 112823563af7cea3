"""Peak memory and time of nc-image on a very large image (default 8192 x 8192).

    python scripts/bench_large_image.py [--side 8192] [--arch mbt2018-mean]

Builds the image by tiling the sample photograph, stores a model of the real size with
random weights (published weights need a network; memory and time do not depend on the
values) in a temporary NCCLI_HOME, then runs `nccli encode` and `nccli decode` in fresh
processes and reports each one's wall time and peak resident memory against a 4 GiB budget.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from nccli.media.image import Image, read_image, write_image
from nccli.models.image import ARCHITECTURES

ROOT = Path(__file__).resolve().parents[1]
BUDGET_MIB = 4096


def run(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one nccli command in a fresh process."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "nccli", *args], env=env)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"nccli {args[0]} failed with exit code {process.returncode}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=8192)
    parser.add_argument("--arch", default="mbt2018-mean", choices=sorted(ARCHITECTURES))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        photo = read_image((ROOT / "tests/fixtures/photos/cups.png").read_bytes()).pixels
        reps = (-(-args.side // photo.shape[0]), -(-args.side // photo.shape[1]), 1)
        big = np.tile(photo, reps)[: args.side, : args.side]
        (work_dir / "big.png").write_bytes(write_image(Image(np.ascontiguousarray(big)), ".png"))
        del big
        checkpoint = io.BytesIO()
        torch.manual_seed(0)
        model = ARCHITECTURES[args.arch](192, 320)
        state = {k: v for k, v in model.state_dict().items() if "table_" not in k}
        torch.save(state, checkpoint)
        (work_dir / "model.pth").write_bytes(checkpoint.getvalue())
        env = {**os.environ, "NCCLI_HOME": str(work_dir / "home"), "NCCLI_OFFLINE": "1"}
        model_id = f"{args.arch}-mse-q6"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "nccli",
                "models",
                "import",
                str(work_dir / "model.pth"),
                "--arch",
                args.arch,
                "--id",
                model_id,
            ],
            check=True,
            env=env,
        )
        encode = run(
            [
                "encode",
                str(work_dir / "big.png"),
                "-o",
                str(work_dir / "big.ncc"),
                "-c",
                "nc-image",
                "-Q",
                "6",
                "-p",
                f"arch={args.arch}",
            ],
            env,
        )
        decode = run(["decode", str(work_dir / "big.ncc"), "-o", str(work_dir / "out.png")], env)
        size = (work_dir / "big.ncc").stat().st_size
    print(f"{args.side}x{args.side}, {args.arch} (N=192, M=320), {os.cpu_count()} cores")
    for name, (seconds, peak) in (("encode", encode), ("decode", decode)):
        verdict = "within" if peak <= BUDGET_MIB else "OVER"
        print(f"{name}: {seconds:.1f} s, peak RSS {peak:.0f} MiB ({verdict} {BUDGET_MIB} MiB)")
    print(f"file: {size} bytes")


if __name__ == "__main__":
    main()
