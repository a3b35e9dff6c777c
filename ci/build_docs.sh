#!/usr/bin/env bash
# Build the documentation site (docs/*.md pages + the API reference from the numpydoc
# docstrings) with Sphinx, warnings as errors.  Installs the "docs" extra into the active
# virtual environment first.  Usage: ci/build_docs.sh [OUTPUT_DIR]  (default docs/_build/html)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/_build/html}"
python -m pip install --quiet -e ".[docs]"
# -W: a warning fails the build; --keep-going: report every warning, not only the first;
# -n: nitpicky off (type names in numpydoc sections are prose, not cross-references);
# -E: a fresh environment, so a stale cache cannot hide a warning.
python -m sphinx -W --keep-going -E -b html docs "$out"
echo "documentation built in $out"
