"""README.md stays a front page: short, with the two commands CI and users rely on, and links
that lead somewhere.  (Its code blocks, and those of docs/*.md, run in tests/test_docs.py.)"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]

MAIN_COMMAND = "python3 -m venv .venv && . .venv/bin/activate && pip install . && bpnet-xp train"
TEST_COMMAND = ('python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]" '
                "&& python -m pytest")


def test_readme_is_a_front_page():
    assert len(README.read_text().splitlines()) <= 260


def _block_after(marker: str) -> list[str]:
    """The lines of the fenced block right after ``marker`` (only blank lines between)."""
    lines = README.read_text().splitlines()
    assert sum(line.strip() == marker for line in lines) == 1, f"{marker} must appear exactly once"
    i = next(n for n, line in enumerate(lines) if line.strip() == marker) + 1
    while not lines[i].strip():
        i += 1
    assert lines[i] == "```bash", f"the block after {marker} must be a ```bash block"
    end = next(n for n in range(i + 1, len(lines)) if lines[n].startswith("```"))
    return lines[i + 1:end]


@pytest.mark.parametrize("marker, command", [("<!-- main-command -->", MAIN_COMMAND),
                                             ("<!-- test-command -->", TEST_COMMAND)])
def test_the_two_commands(marker, command):
    assert _block_after(marker) == [command]


def test_ci_extracts_the_test_command():
    """ci/run_tests.sh's own awk program finds the same command."""
    awk = r"/<!-- test-command -->/{found=1; next} found && /^```/{if (inblock) exit; inblock=1; next} inblock{print}"
    done = subprocess.run(["awk", awk, str(README)], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == TEST_COMMAND
    assert awk in (ROOT / "ci" / "run_tests.sh").read_text()


def test_first_example_is_there():
    text = README.read_text()
    section = text.split("## A first network in ten lines", 1)[1]
    assert re.match(r"\s*```python\n.*?```\s*prints\s*```\n.+?```", section, re.S)


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.*)$", text, re.M)}


def _links(page: Path):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    for match in re.finditer(r"!?\[[^\]]*\]\(([^)\s]+)\)", text):
        target = match.group(1)
        if not re.match(r"[a-z]+://", target):
            yield target


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_and_images_resolve(page):
    broken = []
    for target in _links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{page.relative_to(ROOT)}: broken links {broken}"


def test_readme_links_into_every_docs_page():
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in _links(README)}
    pages = set((ROOT / "docs").glob("*.md"))
    assert pages <= linked, f"README.md does not link to {sorted(p.name for p in pages - linked)}"


def test_cited_result_files_exist():
    # A figure in the README or the docs names the result file it came from; that file must be there.
    cited = {m for page in PAGES for m in re.findall(r"benchmarks/results/[\w.-]+\.(?:md|json)", page.read_text())}
    assert cited, "no result file cited: the pattern no longer matches the pages"
    missing = sorted(c for c in cited if not (ROOT / c).exists())
    assert not missing, f"cited but not in benchmarks/results: {missing}"
