#!/usr/bin/env bash
# The GPU figures of the fast training step (README "Speed"), in one command:
#   bash bench/gpu.sh                # or: make bench-gpu
# 1. every fast option alone and combined, birds-256 networks at 256 px and at 64 px, batch 32, penalty every
#    step (each size in its own process, so a failed CUDA-graph capture cannot spoil the other size);
# 2. fidelity: 200 fast steps against the reference on the same data and noise (target: within 5%);
# 3. the torch.compile variants last, since compiling takes minutes.
# Tables go to stdout and, with the JSON, to $OUT (default outputs/bench); every row is written as it
# finishes, so a run cut short keeps what it measured. Roughly 5-10 minutes on one H100 / H200.
set -u
PY=${PYTHON:-python3}
OUT=${OUT:-outputs/bench}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
"$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "bench/gpu.sh needs a CUDA GPU (torch.cuda.is_available() is False)")' || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
FAST="off;batched_affine;channels_last;bf16;fused_adam;cudnn_benchmark;on;on,cuda_graphs"
for size in 256 64; do
  "$PY" bench/train_step.py --device cuda --sizes "$size" --variants "$FAST" --out "$OUT/train_step_$size.json" \
    2>&1 | tee "$OUT/train_step_$size.txt"
done
"$PY" bench/fast_fidelity.py --device cuda --fast on --steps 200 2>&1 | tee "$OUT/fidelity.txt"
"$PY" bench/fast_fidelity.py --device cuda --fast on,cuda_graphs --steps 60 2>&1 | tail -3 | tee -a "$OUT/fidelity.txt"
"$PY" bench/train_step.py --device cuda --variants "off;on,compile;on,compile,cuda_graphs" --out "$OUT/train_step_compile.json" \
  2>&1 | tee "$OUT/train_step_compile.txt"
