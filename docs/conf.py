"""Sphinx configuration: the docs/*.md pages (myst-parser) and an API reference from the
numpydoc docstrings (autodoc).  Built by ci/build_docs.sh with warnings as errors."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # a source checkout documents itself, installed or not

from bpnet_xp import __version__  # noqa: E402

project = "bpnet_xp"
author = "bpnet_xp developers"
copyright = "2026, bpnet_xp developers"
release = version = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "notebook.ipynb", "images/README*"]

# autodoc: members in source order; optional libraries mocked, so the reference builds
# without torch, jax, dask or cupy installed.
autodoc_member_order = "bysource"
autodoc_mock_imports = ["torch", "jax", "cupy", "dask", "distributed", "tqdm", "numba"]
autodoc_typehints = "none"  # the numpydoc sections already give the types and shapes
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# myst: the pages link to ../README.md and to source files outside docs/, which are not
# pages of the site; GitHub renders those links, Sphinx need not resolve them.
myst_heading_anchors = 3
suppress_warnings = ["myst.xref_missing", "myst.header"]

html_theme = "alabaster"
html_static_path: list[str] = []
html_title = f"bpnet_xp {release}"


# -- docstring hooks ------------------------------------------------------------------------
import re  # noqa: E402

_BARS = re.compile(r"(?<![|\\])\|(?=\S)([^|\n]*?\S)\|(?!\|)")


def _escape_absolute_values(app, what, name, obj, options, lines):
    """|z| in a docstring is an absolute value, not a reStructuredText substitution."""
    for i, line in enumerate(lines):
        if not line.lstrip().startswith("|"):  # a line block keeps its bars
            lines[i] = _BARS.sub(r"\\|\1\\|", line)


def _skip_generated(app, what, name, obj, skip, options):
    """scikit-learn's generated set_*_request methods document scikit-learn, not bpnet_xp."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-process-docstring", _escape_absolute_values, priority=400)
    app.connect("autodoc-skip-member", _skip_generated)
