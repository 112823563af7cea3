# Sourced by the scripts of a lent GPU machine (docs/device.md), from the repo root with
# .whl/ carried (scripts/device/prepare.sh): installs the wheels and nccli itself (built from
# this tree, so its codecs register) into a folder of its own and puts it on PYTHONPATH.
# PYTHON, WHEELS (default .whl) and SITE (default /tmp/nccli-site) allow a dry run here.
PYTHON=${PYTHON:-python3}
WHEELS=${WHEELS:-.whl}
site=${SITE:-/tmp/nccli-site}
"$PYTHON" -m pip install --quiet --no-index --no-deps --no-compile --target "$site" \
    "$WHEELS"/*.whl || exit 1
export PYTHONPATH="$site" PYTHONUNBUFFERED=1
"$PYTHON" -m pip install --quiet --no-index --no-deps --no-build-isolation --target "$site" . \
    || exit 1
