#!/usr/bin/env bash
# nc-photo's max-effort encodes on a lent GPU machine (docs/device.md), from the repo root
# with .whl/ (scripts/device/prepare.sh) and data/photos/validation carried:
# scripts/rd_effort.py on the GPU, interrupted before the call's limit, then its encodes
# file copied to $OUT (or device-out/). The file is written after every encode, so the next
# call, with the file back in docs/results/, goes on where this one stopped. Arguments go to
# rd_effort.py (--effort, --qualities). LIMIT (default 540 seconds) bounds the run; PYTHON,
# WHEELS, SITE and DEVICE (default cuda) allow a dry run here.
set -uo pipefail
cd "$(dirname "$0")/../.."
DEVICE=${DEVICE:-cuda}
results=docs/results/nc-photo-effort.json
out=${OUT:-device-out}
mkdir -p "$out"
source scripts/device/install.sh
timeout --signal=INT "${LIMIT:-540}" "$PYTHON" scripts/rd_effort.py --device "$DEVICE" \
    --out "$results" "$@"
status=$?
cp "$results" "$out/" || status=1
exit "$status"
