#!/usr/bin/env bash
# One prepared training run for a machine with GPUs (and no network): install what is
# carried, train the gpu profile under torchrun with a time limit, evaluate, and leave the
# checkpoint, the evaluation and the MLflow store under one folder.
#
#   training/gpu_run.sh [OUT]                  (default OUT: runs/gpu-device)
#
# Environment (all optional):
#   CONFIG   training profile (default training/configs/gpu.toml)
#   NPROC    processes (default: the number of GPUs, at least 1; on CPU, gloo)
#   TIMEOUT  seconds for the whole run incl. evaluation (default 570)
#   TEGAKI   folder of Tegaki XML for the real-writing evaluation
#   WHEELS   folder of wheels to install offline first: the project's wheel
#            (pip wheel --no-deps .) and those of its pure-Python needs that the machine
#            lacks (kanjivg, svgpathtools, typer, tqdm; mlflow to track). The machine's own
#            torch is used as it is (the code needs no API newer than torch 2.11).
#   KANJIWRITE_CACHE  a folder holding the built reference pack, to skip building it
#
# Writes: OUT/<run>/best.pt, last.pt, evaluation/ (metrics.json, report.md, plots),
# OUT/mlflow.db and OUT/mlruns/ (when mlflow is importable), OUT/train.log.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "${1:-runs/gpu-device}"
out=$(realpath "${1:-runs/gpu-device}")
config=$(realpath "${CONFIG:-$repo/training/configs/gpu.toml}")
python=${PYTHON:-python3}

if [ -n "${WHEELS:-}" ]; then
  "$python" -m pip install -q --no-index --find-links "$WHEELS" --no-deps "$WHEELS"/*.whl
fi
if ! "$python" -c "import kanjiwrite.cli" 2>/dev/null; then
  echo "kanjiwrite is not importable: install the project (WHEELS, or pip install -e $repo)" >&2
  exit 2
fi
nproc=${NPROC:-$("$python" -c 'import torch; print(max(torch.cuda.device_count(), 1))')}
track=--track
"$python" -c "import mlflow" 2>/dev/null || track=--no-track
tegaki=()
[ -n "${TEGAKI:-}" ] && tegaki=(--tegaki "$(realpath "$TEGAKI")")

cd "$out"  # the MLflow store (mlflow.db, mlruns/) lands here
export MLFLOW_TRACKING_URI="sqlite:///$out/mlflow.db" MLFLOW_DISABLE_TELEMETRY=true
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
echo "training $config on $nproc process(es), $track, into $out" | tee train.log
timeout --signal=TERM --kill-after=20 "${TIMEOUT:-570}" \
  "$python" -m torch.distributed.run --standalone --nproc-per-node "$nproc" \
  -m kanjiwrite.cli train --config "$config" --out-dir "$out" "$track" "${tegaki[@]}" \
  2>&1 | tee -a train.log
ls "$out"/*/best.pt "$out"/*/evaluation/metrics.json | tee -a train.log
