"""The house keeps its shape: no import circle, no private name taken across modules,
no function body over 60 lines.

Read from the source with ``ast`` (nothing is imported), so imports inside functions
count as much as those at the top of a module.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "bpnet_xp"
MAX_BODY_LINES = 60


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module: str, path: pathlib.Path, node: ast.ImportFrom) -> str:
    """The absolute name of what a ``from ... import`` statement reads from."""
    if node.level == 0:
        return node.module or ""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    base = package.split(".")
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, path: pathlib.Path):
    """(target module, imported name or None, line) for every import of a bpnet_xp module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("bpnet_xp"):
                    yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, path, node)
            if not source.startswith("bpnet_xp"):
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in MODULES:
                    yield submodule, None, node.lineno
                else:
                    yield source, alias.name, node.lineno


def _graph() -> dict[str, set[str]]:
    graph = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for target, _, _ in _imports(name, path):
            if target in MODULES and target != name:
                graph[name].add(target)
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a list of modules, or None (depth-first search, three colours)."""
    colour = dict.fromkeys(graph, 0)
    stack: list[str] = []

    def visit(node: str):
        colour[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if colour[nxt] == 1:
                return stack[stack.index(nxt):] + [nxt]
            if colour[nxt] == 0:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        colour[node] = 2
        return None

    for start in sorted(graph):
        if colour[start] == 0:
            found = visit(start)
            if found:
                return found
    return None


def test_the_reader_sees_the_package():
    # Guards the other tests against passing on an empty graph.
    assert {"bpnet_xp.network", "bpnet_xp.model", "bpnet_xp.training", "bpnet_xp.backend"} <= set(MODULES)
    graph = _graph()
    assert "bpnet_xp.network" in graph["bpnet_xp.model"]
    assert "bpnet_xp.backend" in graph["bpnet_xp.network"]


def test_no_import_circle():
    cycle = _find_cycle(_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_cycle_finder_finds_a_planted_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert _find_cycle(graph) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def _private_uses(name: str, path: pathlib.Path):
    """Private names this module takes from other bpnet_xp modules."""
    found = []
    aliases = {}
    for target, imported, line in _imports(name, path):
        if imported is not None and imported.startswith("_") and not imported.startswith("__"):
            found.append(f"{path.name}:{line} imports {imported} from {target}")
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = _resolve(name, path, node)
            for alias in node.names:
                if f"{source}.{alias.name}" in MODULES:
                    aliases[alias.asname or alias.name] = f"{source}.{alias.name}"
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append(f"{path.name}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    return found


def test_no_private_name_taken_from_another_module():
    found = [use for name, path in MODULES.items() for use in _private_uses(name, path)]
    assert not found, "\n".join(found)


def _body_lines(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = function.body
    first = body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        if len(body) == 1:
            return 0
        first = body[1]
    return function.end_lineno - first.lineno + 1


def test_no_function_body_over_60_lines():
    long = []
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _body_lines(node) > MAX_BODY_LINES:
                long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}: "
                            f"{_body_lines(node)} lines")
    assert not long, "\n".join(long)


@pytest.mark.parametrize("source, expected", [
    ("def f():\n    '''doc'''\n    return 1\n", 1),
    ("def f():\n    x = 1\n    y = 2\n    return x + y\n", 3),
])
def test_body_counter_counts_lines_without_the_docstring(source, expected):
    (function,) = ast.parse(source).body
    assert _body_lines(function) == expected
