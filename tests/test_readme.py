"""README.md stays true: its core Python examples run and print what the README says they print."""

from __future__ import annotations

import contextlib
import io
import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def _example(heading: str) -> tuple[str, str]:
    """The ```python block after ``heading`` and the plain ``` block printed after it."""
    text = README.read_text()
    section = text.split(heading, 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    after = section.split(code, 1)[1]
    printed = re.search(r"prints\s*\n\s*```\n(.*?)```", after, re.S).group(1)
    return code, printed


@pytest.mark.parametrize("heading", ["## A first network in ten lines", "## The Python API"])
def test_readme_example_prints_what_it_says(heading, tmp_path, monkeypatch):
    code, printed = _example(heading)
    monkeypatch.chdir(tmp_path)  # the API example saves a model file
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"README {heading}", "exec"), {"__name__": "__readme__"})
    assert out.getvalue().strip() == printed.strip()
