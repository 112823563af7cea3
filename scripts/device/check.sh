#!/usr/bin/env bash
# nccli's GPU checks in one call on a lent GPU machine (docs/device.md), from the repo root
# with .whl/ carried (scripts/device/prepare.sh). Installs nccli and the wheels into a
# folder of its own, then runs, going on past a failed step:
#   1. the tests marked cuda (files coded on the GPU decode on the CPU, every learned codec);
#   2. every golden file decoded on the GPU (same pixels as on the CPU, within 2 levels);
#   3. scripts/bench_image.py and scripts/bench_audio.py on the GPU against their anchors.
# Each step's output goes to $OUT (or device-out/); the exit status counts the failed steps.
# PYTHON, WHEELS (default .whl), SITE (default /tmp/nccli-site) and DEVICE (default cuda)
# allow a dry run here.
set -uo pipefail
cd "$(dirname "$0")/../.."
DEVICE=${DEVICE:-cuda}
out=${OUT:-device-out}
mkdir -p "$out"
source scripts/device/install.sh
failed=0

step() {  # step NAME COMMAND...: run it, keep its output in $out/NAME.log
    local name=$1
    shift
    echo "== $name: $*"
    if "$@" >"$out/$name.log" 2>&1; then
        tail -n 3 "$out/$name.log"
    else
        tail -n 40 "$out/$name.log"
        echo "== $name FAILED"
        failed=$((failed + 1))
    fi
}

"$PYTHON" -c 'import torch; print(torch.__version__, torch.cuda.is_available()
    and torch.cuda.get_device_name())' | tee "$out/device.txt"
mapfile -t marked < <(grep -l -E 'mark\.cuda|DEVICES' tests/test_*.py)
step cuda-tests "$PYTHON" -m pytest -p no:cacheprovider -m cuda "${marked[@]}"
step golden-on-gpu env NCCLI_DEVICE="$DEVICE" "$PYTHON" -m pytest -p no:cacheprovider \
    tests/test_golden.py
if "$PYTHON" -m pip install --quiet --no-index --no-deps --no-build-isolation --upgrade \
    --target "$site" "$WHEELS"/compressai-*.tar.gz >"$out/compressai-build.log" 2>&1; then
    for arch in bmshj2018-factorized bmshj2018-hyperprior mbt2018-mean; do
        step "bench-image-$arch" "$PYTHON" scripts/bench_image.py \
            tests/fixtures/photos/cups.png --arch "$arch" --device "$DEVICE"
    done
else
    echo "== compressai did not build (compressai-build.log): no image benchmark"
    failed=$((failed + 1))
fi
step bench-audio "$PYTHON" scripts/bench_audio.py --device "$DEVICE"
echo "== $failed step(s) failed"
exit "$failed"
