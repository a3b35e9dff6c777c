"""The documentation stays true: every code block in README.md and docs/*.md runs.

Each ```python, ```console and ```bash block of README.md and docs/*.md is one test case,
with an id of the form ``docs/tutorial.md:block04:python:L120`` (file, block number within
the file, language, line of the opening fence).

* ```python blocks run as scripts (``python BLOCK.py``, so ``__name__ == "__main__"``) in a
  fresh interpreter.  When the block is followed by the word "prints" and a plain ``` (or
  ```text) block, the script's standard output must equal that block.
* ```console blocks are transcripts: each ``$ COMMAND`` line runs through bash, as typed at a
  prompt, and its standard output and standard error together must equal the lines shown
  under it, up to measured durations (``0.17 s``, ``"seconds": 5.3``) and the last digits of
  long floats, which vary from run to run or machine to machine.  Every command line must
  exit with status 0 (an example of an error shows its status with ``; echo "exit status $?"``).
* ```bash blocks run through ``bash -euo pipefail`` and must exit with status 0.

All blocks of one file share one temporary working directory, in which ``scripts`` links to
the repository's scripts/ folder, and run in the order of the file, as a reader would run
them: a block that needs a file written by an earlier block (a saved model) finds it there.
Asking for one block alone (``-k``) first runs the blocks before it.  ``bpnet-xp``,
``python`` and ``python3`` resolve to this interpreter, with the repository first on
``PYTHONPATH``, ``MPLBACKEND=Agg``, and ``BPNET_XP_BACKEND=numpy`` (the pages show runs on
a CPU; on a GPU machine the "auto" backend would otherwise pick CuPy and print that).

HTML comments on the lines just before a block's opening fence control it:

``<!-- requires: torch, sklearn -->``
    skip, with the reason, when one of these modules is not installed (a failure instead
    when it is a backend named in ``BPNET_XP_REQUIRE_BACKENDS``, as in CI);
``<!-- no-run: REASON -->``
    never run (a CUDA GPU, a cluster, an install); reported as a skip with the reason;
``<!-- slow -->``
    mark the case ``slow`` (deselected by ``-m "not slow"``);
``<!-- output: REASON -->``
    run, but do not compare the output (it depends on the machine, e.g. which backends
    are installed); the exit status is still checked.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNNABLE = ("python", "console", "bash")
OPTIONAL = {"torch", "jax", "dask", "dask.distributed", "sklearn", "scipy", "pandas", "matplotlib", "cupy",
            "dask_cuda", "tqdm"}
TIMEOUT = 600

_FENCE = re.compile(r"^```(\S*)\s*$")
_MARKER = re.compile(r"^<!--\s*([a-z-]+)\s*(?::\s*(.*?))?\s*-->\s*$")


@dataclasses.dataclass
class Block:
    path: Path
    index: int  # position among the file's runnable blocks
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    markers: dict
    expected: str | None  # what the block prints, when the document shows it

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:block{self.index:02d}:{self.lang}:L{self.line}"


def parse(path: Path) -> list[Block]:
    """The runnable blocks of one Markdown file, with their markers and expected output."""
    lines = path.read_text().splitlines()
    fences = []  # (lang, index of the opening fence, body, index of the closing fence)
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start, lang = i, match.group(1)
        i += 1
        body = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        fences.append((lang, start, "\n".join(body) + "\n", i))
        i += 1
    blocks = []
    for n, (lang, start, body, end) in enumerate(fences):
        if lang not in RUNNABLE:
            continue
        markers = {}
        j = start - 1
        while j >= 0 and (not lines[j].strip() or _MARKER.match(lines[j])):
            marker = _MARKER.match(lines[j])
            if marker:
                markers[marker.group(1)] = marker.group(2) or ""
            j -= 1
        expected = None
        if lang == "python" and n + 1 < len(fences) and fences[n + 1][0] in ("", "text"):
            between = [line.strip() for line in lines[end + 1:fences[n + 1][1]]]
            if [line for line in between if line] == ["prints"]:
                expected = fences[n + 1][2]
        blocks.append(Block(path, len(blocks), start + 1, lang, body, markers, expected))
    return blocks


BLOCKS = [block for path in DOCUMENTS for block in parse(path)]


def _required_backends() -> set[str]:
    raw = os.environ.get("BPNET_XP_REQUIRE_BACKENDS", "")
    return {part.strip() for part in raw.split(",") if part.strip()}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _params():
    for block in BLOCKS:
        marks = [pytest.mark.slow] if "slow" in block.markers else []
        yield pytest.param(block, id=block.id, marks=marks)


def normalise(text: str) -> str:
    """Output as compared: durations replaced, floats of more than 11 decimals rounded to 10
    significant digits, trailing spaces and blank edges dropped."""
    text = re.sub(r"\s+\d+(?:\.\d+)? s\b", " <T> s", text)
    text = re.sub(r'"seconds": [0-9.eE+-]+', '"seconds": <T>', text)
    # Long floats to 10 significant digits: the last bits of a sum depend on the BLAS build.
    text = re.sub(r"(?<![\w.])-?\d+\.\d{11,}(?:e[+-]?\d+)?",
                  lambda m: f"{float(m.group(0)):.10g}", text)
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines()).strip()


class Document:
    """The shared working directory of one file, and which of its blocks have run."""

    def __init__(self, path: Path, factory):
        self.path = path
        self.workdir = factory.mktemp(path.stem.replace(".", "_") or "doc")
        (self.workdir / "scripts").symlink_to(ROOT / "scripts", target_is_directory=True)
        self.scratch = factory.mktemp(f"{path.stem}-scripts")
        bindir = factory.mktemp("bin")
        for name, command in (("bpnet-xp", f'exec "{sys.executable}" -m bpnet_xp "$@"'),
                              ("python", f'exec "{sys.executable}" "$@"'),
                              ("python3", f'exec "{sys.executable}" "$@"')):
            shim = bindir / name
            shim.write_text(f"#!/bin/sh\n{command}\n")
            shim.chmod(0o755)
        self.env = dict(os.environ)
        self.env["PATH"] = f"{bindir}{os.pathsep}{self.env.get('PATH', '')}"
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), self.env.get("PYTHONPATH")]))
        self.env["MPLBACKEND"] = "Agg"
        # The pages show runs on a CPU; "auto" would pick CuPy on a GPU machine and print that.
        self.env["BPNET_XP_BACKEND"] = "numpy"
        self.done: dict[int, str | None] = {}  # block index -> None (passed) or why it failed

    def run(self, block: Block) -> None:
        """Run ``block`` (after the blocks before it); raise AssertionError if it fails."""
        failures = []
        for earlier in parse(self.path)[:block.index]:
            if earlier.index not in self.done and _runnable(earlier) is None:
                try:
                    self._run(earlier)
                    self.done[earlier.index] = None
                except AssertionError as exc:
                    self.done[earlier.index] = str(exc).splitlines()[0]
            if self.done.get(earlier.index):
                failures.append(self.done[earlier.index])
        try:
            self._run(block)
        except AssertionError as exc:
            self.done[block.index] = str(exc).splitlines()[0]
            if failures:
                raise AssertionError(f"{exc}\n(earlier blocks of this file failed: {failures})") from None
            raise
        self.done[block.index] = None

    def _shell(self, command: str, strict: bool) -> subprocess.CompletedProcess:
        """Run ``command`` in bash: a whole ```bash block strictly, a console line as typed."""
        options = ["-euo", "pipefail"] if strict else []
        return subprocess.run(["bash", *options, "-c", command], cwd=self.workdir, env=self.env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=TIMEOUT)

    def _run(self, block: Block) -> None:
        compare = "output" not in block.markers
        if block.lang == "python":
            script = self.scratch / f"{block.path.stem}_L{block.line}.py"
            script.write_text(block.code)
            done = subprocess.run([sys.executable, str(script)], cwd=self.workdir, env=self.env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=TIMEOUT)
            assert done.returncode == 0, f"{block.id} exited with status {done.returncode}:\n{done.stderr}"
            if block.expected is not None and compare:
                assert normalise(done.stdout) == normalise(block.expected), \
                    f"{block.id} printed something else than the document shows"
        elif block.lang == "bash":
            done = self._shell(block.code, strict=True)
            assert done.returncode == 0, f"{block.id} exited with status {done.returncode}:\n{done.stdout}"
        else:  # console: "$ command" lines, each followed by what it prints
            steps: list[tuple[str, list[str]]] = []
            for line in block.code.splitlines():
                if line.startswith("$ "):
                    steps.append((line[2:], []))
                else:
                    assert steps, f"{block.id}: a console block must start with a '$ ' command line"
                    steps[-1][1].append(line)
            for command, shown in steps:
                done = self._shell(command, strict=False)
                assert done.returncode == 0, \
                    f"{block.id}: `{command}` exited with status {done.returncode}:\n{done.stdout}"
                if compare:
                    assert normalise(done.stdout) == normalise("\n".join(shown)), \
                        f"{block.id}: `{command}` printed something else than the document shows"


def _runnable(block: Block) -> str | None:
    """None when ``block`` can run here, else why not."""
    if "no-run" in block.markers:
        return f"not run: {block.markers['no-run'] or 'marked no-run'}"
    for module in filter(None, (m.strip() for m in block.markers.get("requires", "").split(","))):
        if not _installed(module):
            return f"needs {module}, which is not installed"
    return None


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    cache: dict[Path, Document] = {}

    def get(path: Path) -> Document:
        if path not in cache:
            cache[path] = Document(path, tmp_path_factory)
        return cache[path]

    return get


@pytest.mark.parametrize("block", list(_params()))
def test_block(block: Block, documents):
    why_not = _runnable(block)
    if why_not is not None:
        missing = {m.strip().split(".")[0] for m in block.markers.get("requires", "").split(",")}
        required = {m for m in missing & _required_backends() if not _installed(m)}
        if required and "no-run" not in block.markers:
            pytest.fail(f"{block.id} {why_not}, and BPNET_XP_REQUIRE_BACKENDS requires it", pytrace=False)
        pytest.skip(f"{block.id}: {why_not}")
    documents(block.path).run(block)


_OPTIONAL_IMPORT = re.compile(r"^\s*(?:import|from)\s+([A-Za-z_][\w.]*)", re.M)


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang == "python"], ids=lambda b: b.id)
def test_python_block_declares_optional_imports(block: Block):
    """A block that imports an optional library says so, so a fresh machine skips it."""
    requires = {m.strip() for m in block.markers.get("requires", "").split(",") if m.strip()}
    imported = {name for name in _OPTIONAL_IMPORT.findall(block.code)}
    needed = {name for name in imported if name in OPTIONAL or name.split(".")[0] in OPTIONAL}
    undeclared = {name for name in needed if name not in requires and name.split(".")[0] not in requires}
    if "bpnet_xp.sklearn" in imported and "sklearn" not in requires:
        undeclared.add("sklearn (through bpnet_xp.sklearn)")
    if "bpnet_xp.plotting" in imported and "matplotlib" not in requires:
        undeclared.add("matplotlib (through bpnet_xp.plotting)")
    if "bpnet_xp.dask" in imported and "dask" not in requires:
        undeclared.add("dask (through bpnet_xp.dask)")
    assert not undeclared or "no-run" in block.markers, \
        f"{block.id} imports {sorted(undeclared)} without a <!-- requires: ... --> marker"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang == "python"], ids=lambda b: b.id)
def test_python_block_uses_only_the_public_api(block: Block):
    """Documentation code imports bpnet_xp's public modules only, never internal ones."""
    public = {"bpnet_xp", "bpnet_xp.datasets", "bpnet_xp.preprocessing", "bpnet_xp.sklearn",
              "bpnet_xp.plotting", "bpnet_xp.dask", "bpnet_xp.cli"}
    used = {name for name in _OPTIONAL_IMPORT.findall(block.code) if name.split(".")[0] == "bpnet_xp"}
    assert used <= public, f"{block.id} imports internal modules {sorted(used - public)}"


def test_parser_reads_markers_and_printed_output(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    page = tmp_path / "page.md"
    page.write_text("""# A page

<!-- requires: torch, sklearn -->

<!-- slow -->
```python
print("hello")
```

prints

```text
hello
```

```text
not code
```

<!-- no-run: needs a GPU -->
```bash
nvidia-smi
```

```console
$ bpnet-xp --version
bpnet-xp 0.1.0
```
""")
    first, second, third = parse(page)
    assert (first.lang, first.index, first.line, first.code, first.expected) == \
        ("python", 0, 6, 'print("hello")\n', "hello\n")
    assert first.markers == {"requires": "torch, sklearn", "slow": ""}
    assert first.id == "page.md:block00:python:L6"
    assert (second.lang, second.markers, second.expected) == ("bash", {"no-run": "needs a GPU"}, None)
    assert (third.lang, third.markers, third.code) == ("console", {}, "$ bpnet-xp --version\nbpnet-xp 0.1.0\n")
    assert _runnable(second) == "not run: needs a GPU"


def test_normalise_hides_durations_and_last_digits_only():
    assert normalise("stopped after 3 iterations, 2.90 s, final loss 0.28  \n\n") == \
        "stopped after 3 iterations, <T> s, final loss 0.28"
    assert normalise('{"seconds": 5.3095, "loss": 0.28303701352259125}') == \
        normalise('{"seconds": 1.2, "loss": 0.28303701351950217}')
    assert normalise("loss 0.283037") != normalise("loss 0.283038")


def test_the_readme_example_is_found_with_its_output():
    readme = [b for b in BLOCKS if b.path.name == "README.md" and b.lang == "python"]
    assert readme and readme[0].expected is not None
