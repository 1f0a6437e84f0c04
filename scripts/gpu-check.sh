#!/usr/bin/env bash
# gpu-check.sh: the whole GPU check in one go, for a machine with CUDA 13 (nvcc, a driver),
# CMake, ninja and Python with PyTorch, but no Node and no network:
#   1. GPU facts (nvidia-smi, nvcc), cuBLAS location (GRWARM_CUBLAS), compute capability
#   2. configure + build the native tests and the CUDA plugin with plain CMake (no cmake-js)
#   3. grwarm_conformance --backend cuda, grwarm_parity --backend cuda --against cpu
#   4. grwarm_bench_native and scripts/torch_vit_bench.py for vit-ti, vit-s, vit-b at batch 256
#   5. one JSON file with everything plus derived numbers, and a Markdown table on stdout
# Every step runs under `timeout`, cut to what is left of an overall budget (under 8 minutes);
# a failing step is recorded and the script goes on.
#
# Usage:
#   scripts/gpu-check.sh              on the GPU machine
#   scripts/gpu-check.sh --cpu        dry run end to end on this machine: the CUDA plugin under
#                                     CPU emulation (docs/cuda-emulation.md; needs Boost.Context)
#                                     against the CPU backend, tiny sizes (same as GPU_CHECK_DRY=1)
# Before anything else (GPU mode) it checks the NVIDIA driver (CUDA 13 needs 580 or newer) and
# finds cuBLAS (GRWARM_CUBLAS, the pip wheels nvidia/cu13/lib/libcublas.so.13 and
# nvidia/cublas/lib/libcublas.so.12, the toolkit's lib64, the loader's cache), and stops within
# seconds with the reason when either is missing.
# Environment: OUT (result in $OUT/gpu-check-result.json, else ./gpu-check-result.json),
#   GPU_CHECK_BUDGET (seconds, default 470), GPU_CHECK_JOBS (build jobs; default all cores,
#   2 in the dry run), GPU_CHECK_BUILD (build folder; default build-gpu, build/gpu-check-dry).
# Exit status: 0 when every step passed (skipped steps allowed), 1 otherwise.
set -u

CALLER_DIR=$(pwd)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

DRY=${GPU_CHECK_DRY:-0}
for arg in "$@"; do
  case "$arg" in
    --cpu | --dry) DRY=1 ;;
    -h | --help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "gpu-check: unknown argument $arg" >&2; exit 2 ;;
  esac
done

START=$(date +%s)
BUDGET=${GPU_CHECK_BUDGET:-470}  # seconds; the JSON assembly needs a few more
RESERVE=15                       # kept back for the assembly at the end
if [ "$DRY" = 1 ]; then
  BUILD=${GPU_CHECK_BUILD:-build/gpu-check-dry}
  JOBS=${GPU_CHECK_JOBS:-2}
else
  BUILD=${GPU_CHECK_BUILD:-build-gpu}
  JOBS=${GPU_CHECK_JOBS:-$(nproc)}
fi
LOGS="$BUILD/gpu-check-logs"
RESULT=${OUT:+$OUT/gpu-check-result.json}
RESULT=${RESULT:-$CALLER_DIR/gpu-check-result.json}
mkdir -p "$LOGS"
rm -f "$LOGS"/*
STEPS="$LOGS/steps.tsv"
: >"$STEPS"

# cuBLAS TF32 off for every process (our CUDA GEMM is plain float32 by contract; PyTorch is
# told the same through its flags): the comparison is float32 against float32.
export NVIDIA_TF32_OVERRIDE=0

log() { printf '[gpu-check %3ds] %s\n' "$(($(date +%s) - START))" "$*" >&2; }

# run_step NAME MAX_SECONDS COMMAND...: runs COMMAND with stdout/stderr in $LOGS/NAME.out/.err
# under a timeout of MAX_SECONDS or what is left of the budget, whichever is less, and records
# NAME, exit code, seconds and a status (ok, failed, timeout, unavailable, skipped) in steps.tsv.
run_step() {
  local name=$1 max=$2
  shift 2
  local left=$((START + BUDGET - RESERVE - $(date +%s)))
  local limit=$((max < left ? max : left))
  if [ "$limit" -lt 5 ]; then
    printf '%s\t\t0\tskipped\tout of time (budget %ss)\n' "$name" "$BUDGET" >>"$STEPS"
    log "$name: skipped, out of time"
    return 0
  fi
  log "$name (limit ${limit}s): $*"
  local t0 rc status
  t0=$(date +%s)
  timeout --kill-after=5 "$limit" "$@" >"$LOGS/$name.out" 2>"$LOGS/$name.err"
  rc=$?
  case $rc in
    0) status=ok ;;
    3) status=unavailable ;;
    124 | 137) status=timeout ;;
    *) status=failed ;;
  esac
  printf '%s\t%s\t%s\t%s\t\n' "$name" "$rc" "$(($(date +%s) - t0))" "$status" >>"$STEPS"
  log "$name: $status (exit $rc, $(($(date +%s) - t0))s)"
  return 0
}

skip_step() {
  printf '%s\t\t0\tskipped\t%s\n' "$1" "$2" >>"$STEPS"
  log "$1: skipped, $2"
}

# ---- 1. the machine ----------------------------------------------------------------------------
# A preflight failure ends the run at once (every later step would fail the same way).
stop() {
  log "STOP: $*"
  mkdir -p "$(dirname "$RESULT")"
  python3 -c 'import json, sys; json.dump({"tool": "gpu-check", "ok": False, "stopped": sys.argv[1]}, open(sys.argv[2], "w"), indent=2)' \
    "$*" "$RESULT" 2>/dev/null
  echo "gpu-check: stopped: $*" >&2
  exit 1
}

# cuBLAS: GRWARM_CUBLAS, then the pip wheels (CUDA 13: nvidia/cu13/lib; CUDA 12:
# nvidia/cublas/lib), then a toolkit's lib64, then the loader's cache. Prints the first found.
find_cublas() {
  if [ -n "${GRWARM_CUBLAS:-}" ] && [ -f "$GRWARM_CUBLAS" ]; then echo "$GRWARM_CUBLAS"; return 0; fi
  local dirs d f
  dirs=$(python3 -c 'import nvidia, sys; print("\n".join(list(nvidia.__path__)))' 2>/dev/null)
  for d in $dirs; do
    for f in "$d/cu13/lib/libcublas.so.13" "$d/cublas/lib/libcublas.so.13" "$d/cublas/lib/libcublas.so.12"; do
      if [ -f "$f" ]; then echo "$f"; return 0; fi
    done
  done
  for f in /usr/local/cuda/lib64/libcublas.so.13 /usr/local/cuda/targets/*/lib/libcublas.so.13 \
    /usr/local/cuda/lib64/libcublas.so.12 /usr/local/cuda-*/lib64/libcublas.so.1[23]; do
    if [ -f "$f" ]; then echo "$f"; return 0; fi
  done
  ldconfig -p 2>/dev/null | awk '/libcublas\.so\.1[23] /{print $NF; exit}'
}

ARCH=""
if [ "$DRY" = 1 ]; then
  skip_step nvidia-smi "dry run (CUDA plugin under CPU emulation)"
else
  # The driver first: the plugin carries the CUDA 13 runtime statically and needs a driver for
  # CUDA 13 (Linux driver 580 or newer).
  command -v nvidia-smi >/dev/null 2>&1 || stop "no nvidia-smi: no NVIDIA driver installed (CUDA 13 needs driver 580 or newer)"
  DRIVER=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n 1 | tr -d '[:space:]')
  [ -n "$DRIVER" ] || stop "nvidia-smi found no GPU or no working driver: $(nvidia-smi 2>&1 | head -n 2 | tr '\n' ' ')"
  [ "${DRIVER%%.*}" -ge 580 ] 2>/dev/null || stop "NVIDIA driver $DRIVER is too old: CUDA 13 needs 580 or newer"
  log "driver: $DRIVER"
  CUBLAS=$(find_cublas)
  [ -n "$CUBLAS" ] || stop "cuBLAS not found (looked at GRWARM_CUBLAS, the pip wheels nvidia/cu13/lib/libcublas.so.13 and nvidia/cublas/lib/libcublas.so.12, /usr/local/cuda*/lib64, ldconfig): pip install nvidia-cublas or set GRWARM_CUBLAS"
  export GRWARM_CUBLAS="$CUBLAS"
  log "cuBLAS: $CUBLAS"
  run_step nvidia-smi 20 nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total,clocks.max.sm \
    --format=csv,noheader
  # The toolkit's usual home when nvcc is not on PATH (CMake looks for nvcc on PATH).
  if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
    export PATH="/usr/local/cuda/bin:$PATH"
  fi
  run_step nvcc 20 nvcc --version
  # sm_XY from the first GPU's compute capability "X.Y"
  ARCH=$(head -n 1 "$LOGS/nvidia-smi.out" 2>/dev/null | awk -F', ' '{print $2}' | tr -d '.[:space:]')
fi

# ---- 2. configure and build --------------------------------------------------------------------
CMAKE_ARGS=(-S . -B "$BUILD" -G Ninja -DGRWARM_NODE_ADDON=OFF -DGRWARM_TESTS=ON -DCMAKE_BUILD_TYPE=Release)
if [ "$DRY" = 1 ]; then
  CMAKE_ARGS+=(-DGRWARM_CUDA=OFF -DGRWARM_CUDA_EMU=ON -DGRWARM_NATIVE_ARCH=ON)
else
  CMAKE_ARGS+=(-DGRWARM_CUDA=ON -DGRWARM_NATIVE_ARCH=ON)
  if [ -n "$ARCH" ]; then CMAKE_ARGS+=("-DGRWARM_CUDA_ARCHS=$ARCH"); fi
fi
run_step configure 90 cmake "${CMAKE_ARGS[@]}"
run_step build 270 cmake --build "$BUILD" -j "$JOBS"

# The executables land in GRWARM_OUTPUT_DIR (next to libgrwarm_cuda.so); find it.
BIN=$(dirname "$(find "$BUILD" -name grwarm_conformance -type f -perm -u+x 2>/dev/null | head -n 1)")
[ -x "$BIN/grwarm_conformance" ] || BIN=""

# ---- 3. correctness ----------------------------------------------------------------------------
if [ "$DRY" = 1 ]; then
  # The same steps on the CUDA plugin under CPU emulation, with the stand-in cuBLAS.
  [ -n "$BIN" ] && [ -f "$BIN/libgrwarm_cuda_emu.so" ] ||
    stop "the emulated CUDA plugin was not built (Boost.Context missing, or the build failed: see $LOGS/configure.out, build.err)"
  EMU_BIN=$(cd "$BIN" && pwd)
  export GRWARM_CUDA_PLUGIN="$EMU_BIN/libgrwarm_cuda_emu.so" GRWARM_CUBLAS="$EMU_BIN/libgrwarm_cublas_emu.so"
  export OMP_WAIT_POLICY=passive
  log "CUDA plugin under emulation: $GRWARM_CUDA_PLUGIN, cuBLAS: $GRWARM_CUBLAS"
  DEV=cuda
  PARITY_ARGS=(--backend cuda --against cpu --configs micro)
  MODELS=(vit-micro)
else
  DEV=cuda
  PARITY_ARGS=(--backend cuda --against cpu)
  MODELS=(vit-ti vit-s vit-b)
fi
if [ -n "$BIN" ]; then
  run_step conformance 90 "$BIN/grwarm_conformance" --backend "$DEV" --precision all --json "$LOGS/conformance.json"
  run_step parity 120 "$BIN/grwarm_parity" "${PARITY_ARGS[@]}" --json "$LOGS/parity.json"
else
  skip_step conformance "no executables (see the build step)"
  skip_step parity "no executables (see the build step)"
fi

# ---- 4. speed ----------------------------------------------------------------------------------
HAVE_TORCH=0
if python3 -c 'import torch' >/dev/null 2>&1; then HAVE_TORCH=1; fi
for model in "${MODELS[@]}"; do
  if [ "$DRY" = 1 ]; then
    bench_args=(--backend cuda --model "$model" --batch 8 --iters 2 --warmup 1 --gemm-n 128 --gemm-iters 2)
    torch_args=(--device cpu --model "$model" --batch 8 --iters 2 --warmup 1)
    limit=60
  else
    iters=20
    limit=75
    if [ "$model" = vit-b ]; then iters=10; limit=110; fi
    bench_args=(--backend cuda --model "$model" --batch 256 --iters "$iters" --warmup 3)
    torch_args=(--model "$model" --batch 256 --iters "$iters" --warmup 3)
  fi
  if [ -n "$BIN" ]; then
    run_step "bench-$model" "$limit" "$BIN/grwarm_bench_native" "${bench_args[@]}" --json "$LOGS/bench-$model.json"
    # bf16 mixed precision (cublasGemmEx), vit-ti only (the dry run: its one model): the same
    # step with bf16 GEMM inputs.
    if [ "$model" = vit-ti ] || [ "$DRY" = 1 ]; then
      run_step "bench-$model-bf16" "$limit" "$BIN/grwarm_bench_native" "${bench_args[@]}" --precision bfloat16 \
        --no-unfused --json "$LOGS/bench-$model-bf16.json"
    fi
  else
    skip_step "bench-$model" "no executables (see the build step)"
  fi
  if [ "$HAVE_TORCH" = 1 ]; then
    run_step "torch-$model" "$limit" python3 scripts/torch_vit_bench.py "${torch_args[@]}"
  else
    skip_step "torch-$model" "python3 has no torch"
  fi
done

# ---- 5. one JSON file, one table -----------------------------------------------------------------
log "assembling $RESULT"
python3 - "$LOGS" "$RESULT" "$DRY" "$((BUDGET))" "$START" "${MODELS[@]}" <<'PY'
import json, os, sys, time

logs, result, dry, budget, start = sys.argv[1], sys.argv[2], sys.argv[3] == "1", int(sys.argv[4]), int(sys.argv[5])
models = sys.argv[6:]

def read(name):
    try:
        with open(os.path.join(logs, name)) as f:
            return f.read()
    except OSError:
        return None

def load_json(name, last_line=False):
    text = read(name)
    if not text:
        return None
    try:
        if last_line:
            lines = [l for l in text.splitlines() if l.strip().startswith("{")]
            return json.loads(lines[-1]) if lines else None
        return json.loads(text)
    except ValueError:
        return None

steps = []
for line in (read("steps.tsv") or "").splitlines():
    name, rc, secs, status, note = (line.split("\t") + [""] * 5)[:5]
    step = {"name": name, "exit": int(rc) if rc else None, "seconds": int(secs or 0), "status": status}
    if note:
        step["note"] = note
    if status not in ("ok", "skipped"):
        tail = (read(name + ".err") or "").splitlines()[-15:] + (read(name + ".out") or "").splitlines()[-10:]
        step["log_tail"] = tail
    steps.append(step)
status = {s["name"]: s["status"] for s in steps}

gpu = None
smi = read("nvidia-smi.out")
if smi and smi.strip():
    f = [x.strip() for x in smi.splitlines()[0].split(",")]
    keys = ["name", "compute_cap", "driver", "memory_total", "max_sm_clock"]
    gpu = dict(zip(keys, f))
    gpu["count"] = len([l for l in smi.splitlines() if l.strip()])
nvcc = read("nvcc.out")
nvcc_release = next((l.strip() for l in (nvcc or "").splitlines() if "release" in l), None)

def summary(report):
    if not report:
        return None
    out = {k: report.get(k) for k in ("passed", "failed", "skipped", "backend", "detail")}
    out["failures"] = [
        "%s %s %s [%s]: %s" % (c["precision"], c["op"], c["output"], c["shape"], c["note"])
        for c in report.get("cases", []) if not c.get("pass") and not c.get("skipped")
    ][:20]
    return out

def ratio(a, b):
    return a / b if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else None

per_model = {}
for m in models:
    ours = load_json("bench-%s.json" % m)
    torch = load_json("torch-%s.out" % m, last_line=True)
    if torch and "error" in torch:
        torch = None
    bf16 = load_json("bench-%s-bf16.json" % m)
    d = {"ours": ours, "torch": torch}
    if bf16:
        d["ours_bf16"] = bf16
    ob = ours["base"]["ms_median"] if ours else None
    og = ours["gr_fused"]["ms_median"] if ours else None
    tb = torch["base_ms"] if torch else None
    tg = torch["gr_ms"] if torch else None
    d["derived"] = {
        "speedup_base_vs_torch": ratio(tb, ob),
        "speedup_gr_vs_torch": ratio(tg, og),
        "ours_gr_over_base": ratio(og, ob),
        "torch_gr_over_base": ratio(tg, tb),
        "ours_base_gflops": ours["base"]["gflops"] if ours else None,
        "gemm_gflops": ours["gemm"]["gflops"] if ours else None,
        "base_share_of_gemm_rate": ours["ratios"]["base_gflops_over_gemm"] if ours else None,
        "gr_bookkeeping_share": ours["ratios"]["gr_bookkeeping_share"] if ours else None,
        "ours_gr_unfused_over_base": ours["ratios"].get("gr_unfused_over_base") if ours else None,
        "params_match_torch": (ours["params"] == torch["params"]) if ours and torch else None,
        "bf16_base_over_float32_base": ratio(bf16["base"]["ms_median"], ob) if bf16 else None,
    }
    per_model[m] = d

ok = all(s["status"] in ("ok", "skipped") for s in steps)
out = {
    "tool": "gpu-check",
    "mode": "dry (CUDA plugin under CPU emulation, tiny sizes)" if dry else "gpu",
    "ok": ok,
    "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
    "seconds": int(time.time()) - start,
    "budget_seconds": budget,
    "gpu": gpu,
    "nvcc": nvcc_release,
    "cublas": os.environ.get("GRWARM_CUBLAS"),
    "nvidia_tf32_override": os.environ.get("NVIDIA_TF32_OVERRIDE"),
    "steps": steps,
    "conformance": summary(load_json("conformance.json")),
    "parity": summary(load_json("parity.json")),
    "models": per_model,
}
os.makedirs(os.path.dirname(os.path.abspath(result)), exist_ok=True)
with open(result, "w") as f:
    json.dump(out, f, indent=2)
    f.write("\n")

def fmt(v, spec, suffix=""):
    return format(v, spec) + suffix if isinstance(v, (int, float)) and not isinstance(v, bool) else "-"

def pct(v, spec):
    return fmt(100 * v if isinstance(v, (int, float)) else None, spec, "%")

dev = gpu["name"] if gpu else ("CUDA under CPU emulation (dry run)" if dry else "unknown GPU")
print()
print("### gpu-check: %s%s" % (dev, ", " + nvcc_release if nvcc_release else ""))
print()
for name, key in (("conformance", "conformance"), ("parity (vs CPU)", "parity")):
    s = out[key]
    if s:
        print("- %s: %s passed, %s failed, %s skipped" % (name, s["passed"], s["failed"], s["skipped"]))
    else:
        print("- %s: %s" % (name, status.get(key, "not run")))
print()
print("| model | batch | ours base ms | ours GR ms | GR/base | torch base ms | torch GR ms | speedup base | speedup GR "
      "| base GFLOP/s | GEMM GFLOP/s | base/GEMM | GR bookkeeping |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for m, d in per_model.items():
    o, t, x = d["ours"], d["torch"], d["derived"]
    print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        m, o["batch"] if o else (t["batch"] if t else "-"),
        fmt(o["base"]["ms_median"] if o else None, ".1f"), fmt(o["gr_fused"]["ms_median"] if o else None, ".1f"),
        fmt(x["ours_gr_over_base"], ".2f"), fmt(t["base_ms"] if t else None, ".1f"),
        fmt(t["gr_ms"] if t else None, ".1f"),
        fmt(x["speedup_base_vs_torch"], ".2f", "x"), fmt(x["speedup_gr_vs_torch"], ".2f", "x"),
        fmt(x["ours_base_gflops"], ".0f"), fmt(x["gemm_gflops"], ".0f"),
        pct(x["base_share_of_gemm_rate"], ".0f"), pct(x["gr_bookkeeping_share"], ".1f")))
print()
bad = [s for s in steps if s["status"] not in ("ok", "skipped")]
print("steps: " + ", ".join("%s %s (%ds)" % (s["name"], s["status"], s["seconds"]) for s in steps))
if bad:
    print("FAILED steps: " + ", ".join(s["name"] for s in bad) + " (log tails in the JSON)")
print("result: %s (%ds)" % (result, out["seconds"]))
sys.exit(0 if ok else 1)
PY
