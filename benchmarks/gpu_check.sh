#!/usr/bin/env bash
# One bounded GPU check of the Triton path: versions, the CUDA tests, a reduced benchmark.
#
#   bash benchmarks/gpu_check.sh [OUTPUT_DIR]            # on a CUDA machine (~9 min at most)
#   bash benchmarks/gpu_check.sh --dry-run [OUTPUT_DIR]  # the same steps on the CPU, tiny sizes
#
# OUTPUT_DIR defaults to $OUT. Every step has its own time limit and writes its log to
# OUTPUT_DIR/<step>.log as it runs; summary.txt gets one line per step (ok / FAILED, seconds);
# the benchmark rewrites its .md/.json after every shape, so a step cut short keeps what it
# measured. The checkout is put on PYTHONPATH (nothing is pip-installed from it); extra wheels
# (fft-conv-pytorch) are installed from ./.whl with --no-index --no-deps, see
# benchmarks/README.md for the command that fills that folder. Exit status: 0 if every step
# passed, 1 otherwise.
set -u -o pipefail

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }

DRY=0
DEST=""
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY=1 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "gpu_check.sh: unknown option '$arg' (allowed: --dry-run, --help)" >&2; exit 2 ;;
    *)
      if [ -n "$DEST" ]; then
        echo "gpu_check.sh: one output folder expected, got '$DEST' and '$arg'" >&2; exit 2
      fi
      DEST=$arg ;;
  esac
done
DEST=${DEST:-${OUT:-}}
if [ -z "$DEST" ]; then
  echo "gpu_check.sh: give an output folder as argument or set OUT" >&2
  exit 2
fi
mkdir -p "$DEST" && DEST=$(cd "$DEST" && pwd)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
PY=${PYTHON:-python}
SITE=${GPU_CHECK_SITE:-${TMPDIR:-/tmp}/lightning-spectral-site}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
SUMMARY=$DEST/summary.txt
: >"$SUMMARY"
FAILED=0
START=$(date +%s)

# step NAME LIMIT_SECONDS COMMAND...: run with a time limit, log to NAME.log, one summary line.
step() {
  local name=$1 limit=$2
  shift 2
  local begin rc verdict
  begin=$(date +%s)
  echo "== $name (limit ${limit}s): $*"
  timeout --kill-after=10 "$limit" "$@" >"$DEST/$name.log" 2>&1
  rc=$?
  tail -n 4 "$DEST/$name.log"
  if [ "$rc" -eq 0 ]; then
    verdict=ok
  elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    verdict="FAILED (timed out after ${limit}s)"
    FAILED=1
  else
    verdict="FAILED (exit $rc)"
    FAILED=1
  fi
  echo "$name: $verdict in $(($(date +%s) - begin))s" | tee -a "$SUMMARY"
}

if [ "$DRY" -eq 1 ]; then
  echo "dry run on the CPU: Triton interpreted, tiny sizes; no figure from it is a measurement" |
    tee -a "$SUMMARY"
  export TRITON_INTERPRET=1 CUDA_VISIBLE_DEVICES=""
fi

# 1. Device and versions (also versions.json).
step versions 30 "$PY" - "$DEST/versions.json" <<'PYTHON'
import importlib.metadata as metadata
import json
import platform
import subprocess
import sys

import torch

info = {"python": platform.python_version(), "torch": torch.__version__,
        "cuda (torch build)": torch.version.cuda, "cuda available": torch.cuda.is_available()}
try:
    import triton
    info["triton"] = triton.__version__
except Exception as error:
    info["triton"] = f"unavailable ({type(error).__name__}: {error})"
if torch.cuda.is_available():
    props = torch.cuda.get_device_properties(0)
    info.update({"gpu": props.name, "capability": f"sm_{props.major}{props.minor}",
                 "gpu memory GiB": round(props.total_memory / 2**30, 1),
                 "cudnn": torch.backends.cudnn.version()})
try:
    query = ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"]
    info["driver"] = subprocess.run(query, capture_output=True, text=True, timeout=20,
                                    check=True).stdout.strip()
except Exception as error:
    info["driver"] = f"unavailable ({type(error).__name__})"
for package in ("pytorch-lightning", "lightning", "torchmetrics", "pytest", "hypothesis",
                "fft-conv-pytorch", "jsonargparse", "onnx", "onnxruntime"):
    try:
        info[package] = metadata.version(package)
    except metadata.PackageNotFoundError:
        info[package] = "not installed"
for key, value in info.items():
    print(f"{key}: {value}")
with open(sys.argv[1], "w", encoding="utf-8") as handle:
    json.dump(info, handle, indent=2)
PYTHON

# 2. Extra wheels (pure Python) from ./.whl, without an index or dependencies.
shopt -s nullglob
WHEELS=("$ROOT"/.whl/*.whl)
shopt -u nullglob
if [ "${#WHEELS[@]}" -gt 0 ]; then
  step wheels 30 "$PY" -m pip install --no-index --no-deps --no-compile --target "$SITE" \
    --upgrade "${WHEELS[@]}"
  export PYTHONPATH="$PYTHONPATH:$SITE"
else
  echo "wheels: skipped (no .whl/*.whl; the fft-conv-pytorch column will be missing)" |
    tee -a "$SUMMARY"
fi

# 3. The CUDA tests: every test id with "cuda" (the CUDA modules and the device=cuda cases),
#    compiled for real; the interpreter cases and the offline cubin compilation tests are left
#    to the CPU suite (on the CPU this selection collects the same tests and skips them).
#    With pytest-xdist installed, 8 workers share the Triton compilations (CPU-bound).
SELECT="cuda and not interpreter and not compile_for_cuda"
WORKERS=()
if [ "$DRY" -eq 0 ] && "$PY" -c "import xdist" 2>/dev/null; then
  WORKERS=(-n 8)
fi
step cuda-tests 180 "$PY" -m pytest tests/test_kernels.py tests/test_kernels_cuda.py \
  tests/test_cuda_lightning.py -k "$SELECT" "${WORKERS[@]}" -q -rfEs -p no:cacheprovider \
  --junitxml="$DEST/cuda-tests.xml"

# 4. Reduced benchmark: ResNet-18 layer shapes, one 7x7, one long 1D kernel, compressions
#    0, 0.5, 0.9, then the whole ResNet-18 training step (batch 128) at the same compressions.
if [ "$DRY" -eq 1 ]; then
  # Tiny stand-ins of the layer groups; the ResNet-18 step on the torch backend only (the
  # interpreted Triton step takes minutes; the CUDA tests run the model on Triton).
  BENCH=(--device cpu --warmup 0 --min-run-time 0 --compressions 0.5)
  LAYERS=(dry/3x3 dry/7x7 dry/1d)
  RESNET=(--resnet-batch 2 --resnet-width 2 --resnet-backends torch)
else
  BENCH=(--warmup 3 --min-run-time 0.2 --compressions 0,0.5,0.9)
  LAYERS=(resnet18 stem7x7 long1d/64ch-k255)
  RESNET=(--resnet-batch 128)
fi
LIMITS=(120 40 45)
for index in "${!LAYERS[@]}"; do
  group=${LAYERS[$index]}
  name=bench-$(echo "$group" | sed 's/[^A-Za-z0-9]\{1,\}/-/g')
  step "$name" "${LIMITS[$index]}" "$PY" benchmarks/bench_gpu.py "${BENCH[@]}" \
    --shapes "$group" --no-resnet --output "$DEST/$name"
done
step bench-resnet18-step 80 "$PY" benchmarks/bench_gpu.py "${BENCH[@]}" "${RESNET[@]}" \
  --no-layers --output "$DEST/bench-resnet18-step"

# 5. Where one layer's time goes (profile_gpu.py): kernels by kind, launches, GPU busy share,
#    and the Triton contraction against the cuBLAS GEMMs it replaces, at compression 0.5.
if [ "$DRY" -eq 1 ]; then
  PROFILE=(--device cpu --shapes dry --steps 2)
else
  PROFILE=(--shapes resnet18,stem7x7,long1d/64ch-k255 --steps 20)
fi
step profile 60 "$PY" benchmarks/profile_gpu.py "${PROFILE[@]}" --compression 0.5 \
  --output "$DEST/profile"

echo "total: $(($(date +%s) - START))s, $([ "$FAILED" -eq 0 ] && echo 'all steps ok' || echo 'some steps FAILED')" |
  tee -a "$SUMMARY"
exit "$FAILED"
