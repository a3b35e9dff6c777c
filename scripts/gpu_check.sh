#!/usr/bin/env bash
# GPU proof (issue 16): one command that tests and measures bpnet_xp's CUDA paths.
#
#   scripts/gpu_check.sh OUTDIR              on a GPU machine (ends in under 8 minutes)
#   scripts/gpu_check.sh --dry-run OUTDIR    the same steps on the CPU: numpy in place of cupy,
#                                            torch on cpu in place of cuda, tiny sizes (seconds)
#   scripts/gpu_check.sh --plan OUTDIR       print the GPU run's commands, run nothing
#   scripts/gpu_check.sh --fetch-wheels      here (with internet): download the pure-Python wheels
#                                            the GPU image lacks into scripts/gpu_wheels/
#
# Steps: (1) install the carried wheels (scripts/gpu_wheels/*.whl: array-api-compat,
# array-api-strict) for the modules the image cannot import, with pip --no-index into a
# scratch folder put on PYTHONPATH; nothing is downloaded; (2) the test suite on the cupy
# backend (BPNET_XP_REQUIRE_BACKENDS=cupy, -k cupy) and on torch with device cuda
# (BPNET_XP_TORCH_DEVICE=cuda, -k torch); (3) benchmark workload W3 (python scripts/bench
# --workloads w3: W1 at batch 128, 1024, 8192 against PyTorch CUDA eager, full-batch L-BFGS on
# 1,000,000 x 784 against torch.optim.LBFGS with strong Wolfe); (4) OUTDIR/gpu_check.json and
# OUTDIR/gpu_check.md: device name, driver, library versions, each step's status and its pytest
# summary line, W3's figures.  Every step has its own time limit, so the whole run stays under
# 8 minutes; a failed step is recorded and the next one still runs; the exit status is 0 only
# when every step passed.
#
# With the device tool (scripts/gpu_wheels is git-ignored, so it is carried):
#   run(command="bash scripts/gpu_check.sh $OUT", carry=["scripts/gpu_wheels"], timeout_s=540)
# then copy the two report files to benchmarks/results/<date>_gpu_<device>.{json,md}.
# Variables: PYTHON (python3), GPU_CHECK_PYTEST_ARGS (extra pytest arguments),
# GPU_CHECK_BENCH_ARGS (extra scripts/bench arguments, e.g. "--repeats 5").
set -u

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
wheels="$here/gpu_wheels"
py="${PYTHON:-python3}"
mode=gpu

usage() { echo "usage: $0 [--dry-run|--plan] OUTDIR | --fetch-wheels" >&2; exit 2; }

case "${1:-}" in
  --dry-run) mode=dry; shift ;;
  --plan) mode=plan; shift ;;
  --fetch-wheels)
    mkdir -p "$wheels"
    exec "$py" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation py \
      -d "$wheels" "array-api-compat==1.16.0" "array-api-strict==2.6.1" ;;
  -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
  -*) usage ;;
esac
[ $# -eq 1 ] || usage
out="$1"
mkdir -p "$out" || { echo "cannot create the output folder $out" >&2; exit 2; }
out="$(cd "$out" && pwd)"
cd "$root" || exit 2

# The two modes differ only in these values; every step below is the same code.
if [ "$mode" = dry ]; then
  cupy_backend=numpy; torch_device=cpu; require_cupy=numpy; require_torch=torch
  test_paths="tests/test_optimizers.py"; bench_backends="numpy,torch"  # a small file: seconds
  bench_flags="--quick --w3-force-cpu --threads 1"
  limit_tests=120; limit_bench=120
else
  cupy_backend=cupy; torch_device=cuda; require_cupy=cupy; require_torch=torch
  test_paths="tests"; bench_backends="cupy,torch:cuda"
  bench_flags="--repeats 3 --epochs 2"  # 3 x 2 epochs of 100,000 samples per batch size: fits the limit
  limit_tests=130; limit_bench=180   # with the wheels and the report: under 8 minutes in all
fi

steps="$out/steps.tsv"   # name <TAB> status <TAB> seconds <TAB> summary line
[ "$mode" = plan ] || : >"$steps"

record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$steps"; echo "== $1: $2 ($3 s) $4"; }

run_step() {  # run_step NAME LIMIT_S COMMAND... ; output to OUTDIR/NAME.log
  local name="$1" limit="$2" start rc status summary
  shift 2
  if [ "$mode" = plan ]; then echo "[$name, ${limit}s] $*"; return 0; fi
  start=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" >"$out/$name.log" 2>&1
  rc=$?
  case $rc in 0) status=passed ;; 124|137) status="timed out after ${limit}s" ;; *) status="failed (exit $rc)" ;; esac
  # pytest's last "=== ... passed/failed ... in 12.3s ===" line, else the log's last line.
  summary="$(grep -E '^=+ .*( passed| failed| error| skipped| deselected| no tests ran).* in [0-9.]+s' "$out/$name.log" \
    | tail -n 1 | sed -E 's/^=+ //; s/ =+$//')"
  [ -n "$summary" ] || summary="$(tail -n 1 "$out/$name.log" | cut -c1-200)"
  record "$name" "$status" "$(( $(date +%s) - start ))" "$summary"
  [ $rc -eq 0 ]
}

# (1) the carried wheels, only for what the image lacks (its own hypothesis, scipy, ... are kept).
site="${TMPDIR:-/tmp}/bpnet_xp_gpu_site.$$"  # one per run: two dry runs at once must not share it
[ "$mode" = plan ] || trap 'rm -rf "$site"' EXIT
install_wheels() {
  local missing="" mod dist whl
  mkdir -p "$site"
  for pair in array_api_compat:array_api_compat array_api_strict:array_api_strict; do
    mod="${pair%%:*}"; dist="${pair##*:}"
    "$py" -c "import $mod" 2>/dev/null && continue
    whl="$(ls "$wheels/$dist"-*.whl 2>/dev/null | head -n 1)"
    [ -n "$whl" ] || { echo "$mod is missing and no wheel $dist-*.whl is carried in $wheels" >&2; return 1; }
    missing="$missing $whl"
  done
  if [ "$mode" = dry ] && [ -d "$wheels" ]; then
    missing="$(ls "$wheels"/*.whl 2>/dev/null | tr '\n' ' ')"  # rehearse: install every carried wheel
  fi
  echo "installing:${missing:- nothing}"
  [ -z "$missing" ] || "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" $missing \
    || return 1
  for mod in numpy pytest hypothesis scipy sklearn threadpoolctl; do
    "$py" -c "import $mod" 2>/dev/null || echo "note: $mod is not importable; the tests that need it skip or fail"
  done
}
if [ "$mode" = plan ]; then
  echo "[wheels] pip install --no-index --no-deps --target $site <missing of: $(ls "$wheels" 2>/dev/null | tr '\n' ' ')>"
else
  start=$(date +%s)
  if install_wheels >"$out/wheels.log" 2>&1; then st=passed; else st=failed; fi
  record wheels "$st" "$(( $(date +%s) - start ))" "$(grep -E '^installing' "$out/wheels.log" | cut -c1-200)"
fi
if [ "$mode" = dry ]; then
  export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"  # the rehearsal's wheels stay off the path
else
  export PYTHONPATH="$root:$site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1

# (2) the suite on the cupy backend, then on torch with device cuda.
# shellcheck disable=SC2086  # word splitting of the path and argument lists is meant
run_step tests_cupy "$limit_tests" env BPNET_XP_REQUIRE_BACKENDS="$require_cupy" \
  "$py" -m pytest -q -p no:cacheprovider -k "$cupy_backend" $test_paths ${GPU_CHECK_PYTEST_ARGS:-}
if [ "$mode" = dry ] && ! "$py" -c "import torch" 2>/dev/null; then
  record tests_torch "skipped: torch is not installed" 0 ""
else
  # shellcheck disable=SC2086
  run_step tests_torch "$limit_tests" env BPNET_XP_TORCH_DEVICE="$torch_device" BPNET_XP_REQUIRE_BACKENDS="$require_torch" \
    "$py" -m pytest -q -p no:cacheprovider -k torch $test_paths ${GPU_CHECK_PYTEST_ARGS:-}
fi

# (3) W3 against PyTorch CUDA eager and torch.optim.LBFGS (strong Wolfe).
[ "$mode" = dry ] && ! "$py" -c "import torch" 2>/dev/null && bench_backends=numpy
# shellcheck disable=SC2086
run_step bench_w3 "$limit_bench" "$py" scripts/bench --workloads w3 --backends "$bench_backends" $bench_flags \
  --no-save --json "$out/w3.json" ${GPU_CHECK_BENCH_ARGS:-}

[ "$mode" = plan ] && exit 0

# (4) the report.
"$py" - "$out" "$mode" <<'EOF'
import json, os, platform, subprocess, sys, datetime, importlib

out, mode = sys.argv[1], sys.argv[2]

def version(mod):
    try:
        return getattr(importlib.import_module(mod), "__version__", "?")
    except Exception as exc:  # absent or broken: say so in the report
        return f"not importable ({type(exc).__name__})"

def shell(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception:
        return ""

gpus = shell("nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader")
device = {"mode": "dry run on the CPU (numpy for cupy, torch cpu for cuda)" if mode == "dry" else "gpu",
          "nvidia_smi": gpus or "nvidia-smi unavailable"}
try:
    import torch
    if torch.cuda.is_available():
        device["torch_cuda_device"] = torch.cuda.get_device_name(0)
        device["cuda_runtime"] = torch.version.cuda
except Exception:
    pass
steps = []
for line in open(os.path.join(out, "steps.tsv")):
    name, status, seconds, summary = line.rstrip("\n").split("\t")
    steps.append({"step": name, "status": status, "seconds": int(seconds), "summary": summary})
w3 = {}
if os.path.exists(os.path.join(out, "w3.json")):
    w3 = json.load(open(os.path.join(out, "w3.json"))).get("w3", {})
report = {
    "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    "device": device, "host": platform.node(), "python": platform.python_version(),
    "versions": {m: version(m) for m in ("numpy", "cupy", "torch", "array_api_compat", "array_api_strict",
                                         "hypothesis", "scipy", "sklearn", "pytest")},
    "code": shell("git", "-C", os.getcwd(), "rev-parse", "--short", "HEAD") or "no git here",
    "steps": steps, "passed": all(s["status"] in ("passed",) or s["status"].startswith("skipped") for s in steps),
    "w3": w3,
}
json.dump(report, open(os.path.join(out, "gpu_check.json"), "w"), indent=2)
lines = [f"# bpnet_xp GPU check, {report['date']}", "",
         f"- device: {device['mode']}; {device['nvidia_smi']}" + (f"; CUDA {device['cuda_runtime']}" if "cuda_runtime" in device else ""),
         f"- python {report['python']}, code {report['code']}",
         "- versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()),
         "", "| step | status | seconds | summary |", "| --- | --- | --- | --- |"]
lines += [f"| {s['step']} | {s['status']} | {s['seconds']} | {s['summary']} |" for s in steps]
for batch, sec in w3.get("batches", {}).items():
    lines += ["", f"## W3 batch {batch}", "", "| implementation | samples/s | s/epoch |", "| --- | ---: | ---: |"]
    for label, s in sec["implementations"].items():
        lines.append(f"| {label} | {s['samples_per_s']:.0f} | {s['seconds_per_epoch']:.4f} |")
    for label, r in sec.get("ratios", {}).items():
        for peer, v in r.items():
            lines.append(f"\n{label} vs {peer}: {v['median']:.2f}x samples/s")
if "lbfgs" in w3:
    lines += ["", f"## W3 full-batch L-BFGS, {w3['lbfgs']['samples']} samples", "",
              "| implementation | iterations | ms/iteration | final loss |", "| --- | ---: | ---: | ---: |"]
    for label, r in w3["lbfgs"]["implementations"].items():
        lines.append(f"| {label} | {r['iterations']} | {1e3 * r['seconds_per_iteration']:.2f} | {r['final_loss']:.4f} |")
if "skipped" in w3:
    lines += ["", f"W3 skipped: {w3['skipped']}"]
open(os.path.join(out, "gpu_check.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
sys.exit(0 if report["passed"] else 1)
EOF
