#!/usr/bin/env bash
# The offline wheel set for training/gpu_run.sh: the project's wheel and every wheel of
# training/gpu-wheels.txt for the device machine (CPython 3.12, manylinux x86_64).
#
#   training/gpu_wheels.sh [OUT]       (default OUT: shared/wheels; PY_VERSION=3.12)
#
# Tracking on the device needs mlflow's wheels too (pyarrow alone is ~40 MB, more than the
# carry allows): the device run trains untracked (TRACK=0) and the run folder is logged
# afterwards, or the CPU path tracks as usual.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$repo/shared/wheels}
python=${PYTHON:-python3}
mkdir -p "$out"
"$python" -m pip download -q --no-deps --only-binary=:all: \
  --python-version "${PY_VERSION:-3.12}" --implementation cp \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any \
  -r "$repo/training/gpu-wheels.txt" -d "$out"
"$python" -m pip wheel -q --no-deps "$repo" -w "$out"
du -sh "$out"
