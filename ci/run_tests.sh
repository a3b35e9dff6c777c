#!/usr/bin/env bash
# CI for bpnet_xp: run, from a fresh virtual environment, exactly the test command that
# README.md gives a new user (the fenced block after the "test-command" marker), with the
# backends CI must not silently skip.
set -euo pipefail
cd "$(dirname "$0")/.."

# The README's command, extracted verbatim so CI and the README cannot drift apart.
cmd=$(awk '/<!-- test-command -->/{found=1; next} found && /^```/{if (inblock) exit; inblock=1; next} inblock{print}' README.md)
if [ -z "$cmd" ]; then
  echo "ci: could not find the test command (the block after <!-- test-command -->) in README.md" >&2
  exit 1
fi
echo "ci: README test command:"; printf '  %s\n' "$cmd"

# A fresh environment every time: a missing install step must fail here, not for a user.
rm -rf .venv
python3 -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
# The torch, jax and dask backends are required in CI. torch is pinned: an unpinned torch
# would pull the multi-GB CUDA build. jax and dask install from wheels in ~20 s and ~10 s
# (measured: benchmarks/results/dask-install.md), well inside CI's time.
start=$(date +%s)
python -m pip install --quiet "torch==2.13.0"
echo "ci: torch==2.13.0 installed in $(( $(date +%s) - start )) s"
start=$(date +%s)
python -m pip install --quiet "jax==0.10.2" "dask[array,distributed]==2026.8.0"
echo "ci: jax and dask installed in $(( $(date +%s) - start )) s"

export BPNET_XP_REQUIRE_BACKENDS="${BPNET_XP_REQUIRE_BACKENDS:-numpy,array_api_strict,torch,jax,dask}"
export MPLBACKEND=Agg
echo "ci: BPNET_XP_REQUIRE_BACKENDS=$BPNET_XP_REQUIRE_BACKENDS"

set +e
bash -euo pipefail -c "$cmd"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  # pytest's exit code 5: no tests were collected. A CI that tests nothing is a failure.
  echo "ci: pytest collected no tests (exit code 5); failing" >&2
  exit 1
fi
exit "$status"
