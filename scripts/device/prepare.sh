#!/usr/bin/env bash
# Run here, once per session, before the GPU checks (docs/device.md): puts in .whl/ what
# scripts/device/check.sh installs on a lent GPU machine, which has no network. Its python3
# (3.12) has torch, numpy, pillow, pytest, rich, typer and safetensors; it lacks the wheels
# below. PyAV (36 MB) stays behind: the checks touch no FFmpeg codec or resampler.
# DEVICE_PYTHON (default 3.12) and WHEELS (default .whl) allow a dry run here.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
WHEELS=${WHEELS:-.whl}
grep -qx '/.whl/' .git/info/exclude || echo '/.whl/' >>.git/info/exclude
mkdir -p "$WHEELS"
"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: -d "$WHEELS" \
    --python-version "${DEVICE_PYTHON:-3.12}" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 \
    constriction==0.5.0 zstandard==0.25.0 soundfile==0.14.0 cffi==2.1.1 pycparser==3.12
# A setuptools that builds nccli's pyproject.toml there (PEP 639 licence: 77 or later).
"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: -d "$WHEELS" setuptools==84.2.1
# Published as source only: encodec is pure Python (a wheel made here runs there);
# compressai has a C++ extension, so its source is built there (for bench_image.py).
"$PYTHON" -m pip wheel --quiet --no-deps -w "$WHEELS" encodec==0.1.1
"$PYTHON" -m pip download --quiet --no-deps --no-binary=:all: -d "$WHEELS" compressai==1.2.8
du -sh "$WHEELS"
