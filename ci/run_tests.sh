#!/usr/bin/env bash
# CI for bpnet_xp, in three stages:
#   1. what a newcomer runs: README.md's test command (the fenced block after the
#      "test-command" marker), verbatim, in a fresh virtual environment with nothing
#      else installed — the optional backends are absent there, so their tests must skip;
#   2. the same suite with torch (pinned CPU build), jax, dask and numba installed into that
#      environment and BPNET_XP_REQUIRE_BACKENDS set, so no listed backend can be skipped;
#   3. the documentation site (Sphinx, warnings as errors).
# pytest's exit code 5 (no test collected) fails either stage: a CI that tests nothing is red.
set -euo pipefail
cd "$(dirname "$0")/.."

# The README's command, extracted verbatim so CI and the README cannot drift apart.
cmd=$(awk '/<!-- test-command -->/{found=1; next} found && /^```/{if (inblock) exit; inblock=1; next} inblock{print}' README.md)
if [ -z "$cmd" ]; then
  echo "ci: could not find the test command (the block after <!-- test-command -->) in README.md" >&2
  exit 1
fi
export MPLBACKEND=Agg

run_stage() {  # run_stage NAME COMMAND: runs COMMAND, maps pytest's exit 5 to a failure
  local name=$1 command=$2 status
  echo "ci: stage $name:"; printf '  %s\n' "$command"
  set +e
  bash -euo pipefail -c "$command"
  status=$?
  set -e
  if [ "$status" -eq 5 ]; then
    echo "ci: stage $name: pytest collected no tests (exit code 5); failing" >&2
    exit 1
  fi
  if [ "$status" -ne 0 ]; then
    echo "ci: stage $name failed with exit status $status" >&2
    exit "$status"
  fi
}

# Stage 1: a fresh environment every time, nothing installed but what the command installs.
rm -rf .venv
unset BPNET_XP_REQUIRE_BACKENDS
run_stage "readme (fresh venv, README command verbatim)" "$cmd"

# Stage 2: the optional backends, required (and numba, so the one-pass NumPy Adam is tested
# against the generic one). torch is pinned: an unpinned torch would pull
# the multi-GB CUDA build. jax and dask install from wheels in ~20 s and ~10 s
# (measured: benchmarks/results/dask-install.md).
# shellcheck disable=SC1091
. .venv/bin/activate
start=$(date +%s)
python -m pip install --quiet "torch==2.13.0"
echo "ci: torch==2.13.0 installed in $(( $(date +%s) - start )) s"
start=$(date +%s)
python -m pip install --quiet "jax==0.10.2" "dask[array,distributed]==2026.8.0" "threadpoolctl>=3.5" "numba==0.68.1"
echo "ci: jax, dask, threadpoolctl and numba installed in $(( $(date +%s) - start )) s"
export BPNET_XP_REQUIRE_BACKENDS="${BPNET_XP_REQUIRE_BACKENDS_CI:-numpy,array_api_strict,torch,jax,dask}"
echo "ci: BPNET_XP_REQUIRE_BACKENDS=$BPNET_XP_REQUIRE_BACKENDS"
run_stage "all backends required" "python -m pytest"

# Stage 3: the documentation site (docs/*.md + the API reference from the docstrings),
# warnings as errors.
run_stage "documentation (sphinx -W)" "bash ci/build_docs.sh"
