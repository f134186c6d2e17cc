#!/usr/bin/env bash
# One prepared training run for a machine with GPUs (and no network): install what is
# carried, train the gpu profile under torchrun until a deadline that leaves room for the
# rest, calibrate, evaluate, log, and leave everything under one folder, all inside TIMEOUT.
#
#   training/gpu_run.sh [OUT]                  (default OUT: runs/gpu-device)
#
# The budget plan (seconds; printed and written to OUT/budget.json before training):
#   TIMEOUT     the whole run (default 570)
#   start-up    measured: installing, checks (the in-process start-up, pack and
#               validation set, counts as training time: the deadline is a wall-clock time)
#   CALIBRATE_S temperature and thresholds on the validation set (default 30)
#   EVALUATE_S  the evaluation on rank 0, sized by the profile's eval_attempts and
#               eval_held_out (default 150)
#   REGISTER_S  MLflow logging of checkpoint and evaluation (default 20)
#   MARGIN_S    what is left over (default 30)
#   training    the rest: training stops by then and its learning rate anneals to that end
# At TIMEOUT, `timeout` sends SIGTERM: training would stop saved and calibrated, a later
# phase stops at once; either way the MLflow run ends KILLED, never RUNNING.
#
# Environment (all optional):
#   CONFIG       training profile (default training/configs/gpu.toml)
#   NPROC        processes (default: the number of GPUs, at least 1; on CPU, gloo)
#   CALIBRATION  real writing for validation and calibration: the Tegaki train/ part (GPL,
#                never in the repository; default: shared/data/tegaki-handwriting/train
#                beside or above the checkout, when there)
#   TEGAKI       real writing for the evaluation: the Tegaki eval/ part (same default rule)
#   WHEELS       offline wheel set to install first (training/gpu_wheels.sh builds it: the
#                project's wheel and training/gpu-wheels.txt; the machine's own torch,
#                numpy, scipy, matplotlib and scikit-learn are used as they are)
#   TRACK        1 (default): track in MLflow, which must be importable; 0: untracked
#   KANJIWRITE_CACHE  a folder holding the built reference pack and its caches
#
# Writes: OUT/<run>/best.pt, last.pt, evaluation/ (metrics.json, report.md, plots),
# OUT/mlflow.db and OUT/mlruns/ (tracked), OUT/train.log, OUT/budget.json.
set -euo pipefail
started=$(date +%s)
repo=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "${1:-runs/gpu-device}"
out=$(realpath "${1:-runs/gpu-device}")
config=$(realpath "${CONFIG:-$repo/training/configs/gpu.toml}")
python=${PYTHON:-python3}
limit=${TIMEOUT:-570}
calibrate_s=${CALIBRATE_S:-30} evaluate_s=${EVALUATE_S:-150}
register_s=${REGISTER_S:-20} margin_s=${MARGIN_S:-30}

shared_data() {  # the first existing shared/data/<part> beside or above the checkout
  for root in "$repo/shared" "$repo/../shared"; do
    [ -d "$root/data/$1" ] && { realpath "$root/data/$1"; return; }
  done
  return 0
}
training_left() {  # seconds the plan leaves for training after $1 s of start-up
  echo $((limit - $1 - calibrate_s - evaluate_s - register_s - margin_s))
}
refuse_unless_it_adds_up() {
  if [ "$(training_left "$1")" -lt 10 ]; then
    echo "the budget does not add up: TIMEOUT $limit s - start-up $1 - calibration $calibrate_s - evaluation $evaluate_s - registration $register_s - margin $margin_s leaves $(training_left "$1") s to train" >&2
    exit 2
  fi
}
refuse_unless_it_adds_up 0  # before installing anything
calibration=${CALIBRATION-$(shared_data tegaki-handwriting/train)}
tegaki=${TEGAKI-$(shared_data tegaki-handwriting/eval)}

if [ -n "${WHEELS:-}" ]; then
  "$python" -m pip install -q --no-index --find-links "$WHEELS" --no-deps "$WHEELS"/kanjiwrite-*.whl
  "$python" -m pip install -q --no-index --find-links "$WHEELS" -r "$repo/training/gpu-wheels.txt"
fi
if ! "$python" -c "import kanjiwrite.cli" 2>/dev/null; then
  echo "kanjiwrite is not importable: install the project (WHEELS, or pip install -e $repo)" >&2
  exit 2
fi
args=(--config "$config" --out-dir "$out")
if [ "${TRACK:-1}" = 1 ]; then
  if ! "$python" -c "import mlflow" 2>/dev/null; then
    echo "mlflow is not importable: carry its wheels, or run untracked with TRACK=0" >&2
    exit 2
  fi
  args+=(--track)
else
  args+=(--no-track)
fi
if [ -n "$calibration" ]; then
  args+=(--calibration "$calibration")
else
  echo "WARNING: no calibration writing (CALIBRATION): temperature and thresholds are fitted on synthetic data only" >&2
fi
[ -n "$tegaki" ] && args+=(--tegaki "$tegaki")
nproc=${NPROC:-$("$python" -c 'import torch; print(max(torch.cuda.device_count(), 1))')}

now=$(date +%s)
startup=$((now - started))
refuse_unless_it_adds_up "$startup"
train_s=$(training_left "$startup")
cd "$out"  # the MLflow store (mlflow.db, mlruns/) lands here
export MLFLOW_TRACKING_URI="sqlite:///$out/mlflow.db" MLFLOW_DISABLE_TELEMETRY=true
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
cat > budget.json <<JSON
{"timeout_s": $limit, "startup_s": $startup, "training_s": $train_s, "calibration_s": $calibrate_s,
 "evaluation_s": $evaluate_s, "registration_s": $register_s, "margin_s": $margin_s,
 "training_deadline": $((now + train_s))}
JSON
{
  echo "budget $limit s: start-up $startup + training $train_s + calibration $calibrate_s + evaluation $evaluate_s + registration $register_s + margin $margin_s"
  echo "training $config on $nproc process(es), ${args[*]}, into $out"
} | tee train.log
rc=0
timeout --signal=TERM --kill-after=30 $((limit - startup)) \
  "$python" -m torch.distributed.run --standalone --nproc-per-node "$nproc" \
  -m kanjiwrite.cli train "${args[@]}" --deadline $((now + train_s)) \
  2>&1 | tee -a train.log || rc=$?
echo "finished with status $rc after $(($(date +%s) - started)) s of $limit" | tee -a train.log
ls "$out"/*/best.pt "$out"/*/evaluation/metrics.json 2>&1 | tee -a train.log
exit "$rc"
