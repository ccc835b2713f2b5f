#!/usr/bin/env bash
# gpu_check: the checks that need a CUDA GPU, in one bounded run (about 3 minutes on an H200, 8 at most).
#
# Usage, from the repository root: `bash bench/gpu_check.sh`. It uses the first of $GPU_CHECK_PYTHON,
# .venv/bin/python, python3 whose torch sees a CUDA GPU, with this checkout on PYTHONPATH (no install
# needed); without one it prints one line and exits 0. It then (1) runs a 4-trial TPE study of 2 epochs
# per trial on the `tiny` synthetic dataset with `--gpus 0` and checks, trial by trial, that the launcher
# gave it CUDA_VISIBLE_DEVICES=0, that the trainer logged `on gpu`, that its checkpoint's tensors come
# from cuda:0 and that the trainer saw exactly one CUDA device (bench/trial_devices.py); (2) measures
# ResNet-50 at 256x128, batch 64, bf16 autocast, through our Lightning trainer and a bare PyTorch loop
# on the same batches (bench/bench_training.py --device cuda; target: ours >= 0.95 of bare). Everything
# lands in a temporary folder; a block for docs/BENCHMARKS.md goes to stdout, progress to stderr. Exit
# 0: no GPU, or every check passed; 1: a check failed; 2: the checks could not run (e.g. a missing
# package). A python lacking our dependencies (a machine with CUDA torch but nothing else) gets them
# from wheels in $GPU_CHECK_WHEELS (default build/gpu-wheels), installed into the temporary folder:
# fetch them beforehand, where pip can reach the index, with `bash bench/gpu_check.sh --fetch-wheels`
# (cp312 manylinux wheels of the packages such a machine lacks; GPU_CHECK_WHEEL_PYTHON=3.12 picks the
# version). GPU_CHECK_FORCE_CPU=1 runs the same steps on the CPU with tiny sizes (`--gpus none`);
# GPU_CHECK_OUT=DIR copies the report and logs there; GPU_CHECK_KEEP=1 keeps the temporary folder.

set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
REPO=$(pwd)
STARTED=$(date +%s)
WHEELS=${GPU_CHECK_WHEELS:-$REPO/build/gpu-wheels}
# what the GPU image lacks of our dependencies (the rest, torch and Lightning included, it has)
WHEEL_PACKAGES="optuna alembic Mako colorlog SQLAlchemy greenlet omegaconf jsonschema jsonschema-specifications referencing rpds-py plotly"
MODULES="pytorch_lightning optuna sqlalchemy alembic colorlog omegaconf jsonschema referencing rpds plotly narwhals yaml numpy PIL pandas pyarrow rich"
TUNED="train.optim.base_lr,train.optim.weight_decay,train.optim.name,dataset.re_prob,model.label_smooth,train.optim.triplet_loss_margin"

say() { printf 'gpu_check: %s\n' "$*" >&2; }

if [ "${1:-}" = "--fetch-wheels" ]; then
    version=${GPU_CHECK_WHEEL_PYTHON:-3.12}
    pins=$("$REPO/.venv/bin/python" -c 'import sys, importlib.metadata as m; print(" ".join(f"{d}=={m.version(d)}" for d in sys.argv[1:]))' $WHEEL_PACKAGES) || exit 2
    mkdir -p "$WHEELS"
    # one platform tag per wheel family: pip matches manylinux_2_N exactly
    exec "$REPO/.venv/bin/python" -m pip download --quiet --no-deps --only-binary=:all: --python-version "$version" \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
        --platform any -d "$WHEELS" $pins
fi

FORCE_CPU=${GPU_CHECK_FORCE_CPU:-0}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX") || exit 2
if [ "${GPU_CHECK_KEEP:-0}" = 1 ]; then say "temporary folder kept: $WORK"; else trap 'rm -rf "$WORK"' EXIT; fi
mkdir -p "$WORK/tmp" "$WORK/bin"
export TMPDIR=$WORK/tmp PYTHONUNBUFFERED=1
REPORT=$WORK/report.txt
: >"$REPORT"
report() { printf '%s\n' "$*" >>"$REPORT"; }

finish() {  # print the report block, copy it and the logs out if asked, exit with $1
    report "== gpu_check: $2 (total $(($(date +%s) - STARTED)) s) =="
    cat "$REPORT"
    if [ -n "${GPU_CHECK_OUT:-}" ]; then
        mkdir -p "$GPU_CHECK_OUT"
        cp "$REPORT" "$WORK"/*.log "$WORK"/*.json "$GPU_CHECK_OUT"/ 2>/dev/null
    fi
    exit "$1"
}

show_log() {  # the end of a log, on stderr, after a failed step
    say "last lines of $1:"
    tail -n "${2:-25}" "$1" >&2
}

# 1. a python whose torch sees a CUDA GPU
if [ "$FORCE_CPU" = 1 ]; then
    export CUDA_VISIBLE_DEVICES=""  # a GPU the machine may have stays out of the CPU run
fi
PROBE='import torch; print(torch.__version__, torch.version.cuda, int(torch.cuda.is_available()), torch.cuda.device_count())'
PY="" FIRST=""
for candidate in ${GPU_CHECK_PYTHON:-"$REPO/.venv/bin/python" python3}; do
    command -v "$candidate" >/dev/null 2>&1 || continue
    info=$(timeout 120 "$candidate" -c "$PROBE" 2>/dev/null | tail -n 1) || continue
    read -r TORCH_VERSION CUDA_VERSION CUDA_OK GPU_COUNT <<<"$info"
    [ -n "$FIRST" ] || FIRST="torch $TORCH_VERSION, cuda $CUDA_VERSION, $candidate"
    if [ "$FORCE_CPU" = 1 ] || [ "$CUDA_OK" = 1 ]; then
        PY=$(command -v "$candidate")
        break
    fi
done
if [ -z "$PY" ]; then
    echo "gpu_check: no CUDA GPU visible (${FIRST:-no python with torch found}); nothing to check"
    exit 0
fi

# our packages from this checkout; the commands the launcher and this script call, on this python
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
printf '#!/bin/sh\nexec "%s" -m reid_core "$@"\n' "$PY" >"$WORK/bin/re_identification"
printf '#!/bin/sh\nexec "%s" -m automl "$@"\n' "$PY" >"$WORK/bin/automl"
chmod +x "$WORK/bin/re_identification" "$WORK/bin/automl"
export PATH="$WORK/bin:$PATH"

missing_modules() {
    timeout 120 "$PY" -c 'import importlib.util, sys; print(" ".join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))' $MODULES
}
missing=$(missing_modules) || { say "$PY cannot look up modules"; exit 2; }
if [ -n "$missing" ] && compgen -G "$WHEELS/*.whl" >/dev/null; then
    say "$PY lacks: $missing; installing the wheels of $WHEELS into the temporary folder"
    if ! timeout 180 "$PY" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir \
            --target "$WORK/site" "$WHEELS"/*.whl >"$WORK/pip.log" 2>&1; then
        show_log "$WORK/pip.log"
        exit 2
    fi
    export PYTHONPATH="$PYTHONPATH:$WORK/site"
    missing=$(missing_modules)
fi
if [ -n "$missing" ]; then
    say "cannot run the checks: $PY lacks $missing (fetch wheels with: bash bench/gpu_check.sh --fetch-wheels, and carry $WHEELS)"
    exit 2
fi
if ! timeout 120 "$PY" -c 'import reid_core.cli, reid_core.actions.train, automl.api' >"$WORK/imports.log" 2>&1; then
    show_log "$WORK/imports.log"
    exit 2
fi

if [ "$FORCE_CPU" = 1 ]; then
    GPUS=none EXPECT_VISIBLE="" EXPECT_ACCELERATOR=cpu WHERE="CPU (GPU_CHECK_FORCE_CPU=1, tiny sizes)"
    BENCH_ARGS=(--device cpu --preset tiny --steps 12 --pairs 1 --workers 0 --set model.backbone=resnet_lite
                model.input_height=64 model.input_width=32 dataset.batch_size=16 dataset.num_instances=4)
else
    GPUS=0 EXPECT_VISIBLE=0 EXPECT_ACCELERATOR=gpu
    WHERE=$(timeout 60 nvidia-smi --query-gpu=name,driver_version --format=csv,noheader -i 0 2>/dev/null | head -n 1)
    WHERE="${WHERE:-$(timeout 60 "$PY" -c 'import torch; print(torch.cuda.get_device_name(0))')} ($GPU_COUNT visible)"
    workers=${GPU_CHECK_WORKERS:-$(( $(nproc) > 14 ? 12 : $(nproc) - 2 ))}
    BENCH_ARGS=(--device cuda --preset demo --steps 100 --pairs 3 --workers "$((workers > 0 ? workers : 0))"
                --set model.backbone=resnet_50 model.input_height=256 model.input_width=128
                dataset.batch_size=64 dataset.num_instances=4)
fi
# amp on (bf16 on a GPU that has it); cuDNN free to pick its fastest kernels, as for any throughput run
BENCH_ARGS+=(train.amp=true train.cudnn.benchmark=true train.cudnn.deterministic=false)

report "== gpu_check $(date +%F): $WHERE, torch $TORCH_VERSION (cuda $CUDA_VERSION), $(nproc) CPUs, python $PY =="
FAILED=0

# 2. a 4-trial study on GPU 0: every trial on exactly that device
say "making the tiny dataset"
if ! timeout 120 re_identification make_dataset --output "$WORK/tiny" --preset tiny --seed 0 >"$WORK/make_dataset.log" 2>&1; then
    show_log "$WORK/make_dataset.log"
    finish 2 "could not make the tiny dataset"
fi
SAMPLER=""
if [ "$GPUS" != none ] && command -v nvidia-smi >/dev/null 2>&1; then
    # which processes hold GPU memory while the study runs (a container may hide their pids)
    ( while :; do
        nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits 2>/dev/null | tr -d ',' >>"$WORK/gpu_apps.txt"
        nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 2>/dev/null >>"$WORK/gpu_memory.txt"
        sleep 0.5
      done ) &
    SAMPLER=$!
fi
say "running the 4-trial study (--gpus $GPUS)"
study_start=$(date +%s.%N)
timeout -k 20 240 automl launch --skill-dir "$REPO" --results-dir "$WORK/study" --spec "$WORK/tiny/spec_train.yaml" \
    --gpus "$GPUS" --max-trials 4 --parallel 1 --max-epochs 2 --algorithm tpe --seed 0 --trial-timeout 90 \
    --no-handoff --keep-checkpoints --hyperparameters "$TUNED" >"$WORK/study.log" 2>&1
study_rc=$?
study_wall=$(awk -v a="$study_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
[ -z "$SAMPLER" ] || kill "$SAMPLER" 2>/dev/null
report "device isolation: 4-trial TPE study, --gpus $GPUS, tiny preset, 2 epochs a trial (search keys without the batch shape, which the tiny data limits)"
if [ "$study_rc" != 0 ]; then
    show_log "$WORK/study.log"
    report "  automl launch exited $study_rc after $study_wall s"
fi
timeout 120 "$PY" "$REPO/bench/trial_devices.py" --results-dir "$WORK/study" --expect-visible "$EXPECT_VISIBLE" \
    --expect-accelerator "$EXPECT_ACCELERATOR" --expect-trials 4 --gpu-samples "$WORK/gpu_apps.txt" >"$WORK/trials.log" 2>&1
devices_rc=$?
cat "$WORK/trials.log" >>"$REPORT"
gpu_note=""
if [ -s "$WORK/gpu_memory.txt" ]; then
    gpu_note="; GPU 0 memory used while it ran: $(sort -n "$WORK/gpu_memory.txt" | head -n 1)-$(sort -n "$WORK/gpu_memory.txt" | tail -n 1) MiB"
    [ -s "$WORK/gpu_apps.txt" ] || gpu_note="$gpu_note (nvidia-smi named no process)"
fi
report "  study wall time ${study_wall} s (launch to exit, the fork server's start included)$gpu_note"
if [ "$study_rc" = 0 ] && [ "$devices_rc" = 0 ]; then
    report "  device isolation: PASS"
else
    report "  device isolation: FAIL"
    FAILED=1
fi

# 3. training throughput: our Lightning trainer against a bare loop
say "measuring training throughput (${BENCH_ARGS[*]})"
if timeout -k 20 300 "$PY" "$REPO/bench/bench_training.py" "${BENCH_ARGS[@]}" --json "$WORK/throughput.json" \
        >"$WORK/throughput.log" 2>"$WORK/throughput_stderr.log"; then
    report "throughput (bench/bench_training.py ${BENCH_ARGS[*]}):"
    sed 's/^/  /' "$WORK/throughput.log" >>"$REPORT"
    verdict=$("$PY" - "$WORK/throughput.json" "$FORCE_CPU" <<'EOF'
import json, sys
figures = json.load(open(sys.argv[1]))
ceiling = figures["pipeline_one_worker"] * max(figures["workers"], 1)
print(f"  input pipeline ceiling ~{ceiling:.0f} img/s ({max(figures['workers'], 1)} worker(s))"
      + ("; the loader may bound both loops" if ceiling < 1.2 * figures["bare_median"] else ""))
ratio = figures["ratio_median"]
if sys.argv[2] == "1":
    print(f"  Lightning / bare {ratio:.3f}: not judged (a CPU smoke run)")
else:
    print(f"  Lightning / bare {ratio:.3f} (target >= 0.95): {'PASS' if ratio >= 0.95 else 'FAIL'}")
EOF
)
    report "$verdict"
    case "$verdict" in *": FAIL"*) FAILED=1 ;; esac
else
    show_log "$WORK/throughput_stderr.log"
    report "throughput: bench/bench_training.py failed (see its stderr above)"
    FAILED=1
fi

if [ "$FAILED" = 0 ]; then finish 0 "every check passed"; else finish 1 "a check FAILED"; fi
