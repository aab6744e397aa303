#!/usr/bin/env bash
# The GPU check (issue #17): bench/gpu.py on one CUDA device, one JSON object on stdout, <= 8 min.
# The default and Fashion-MNIST recipes, the speedrun's fast recipe and the overhead bench's model,
# at train.precision 32 and bf16, train.compile off and on. Without CUDA: says so, exits 0.
#   bench/gpu.sh [extra bench/gpu.py arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "bench/gpu.sh: no CUDA device visible to torch ($("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo 'torch missing')); nothing to measure" >&2
  exit 0
fi
exec timeout 480 "$PY" bench/gpu.py --json "$@"
