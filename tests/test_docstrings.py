"""numpydoc docstrings for every public function, class and method of bpnet_xp (issue 13, item 9).

Every module of the package (found by ``pkgutil``, private modules excepted) is walked;
every public name *defined in that module* (functions, classes, and the public methods
and properties a class defines itself) is checked by ``numpydoc.validate`` (the
reference: numpydoc's own parser and rules, not ours) for the codes in :data:`RULES`:

* GL08 - a docstring exists; SS01 - it has a summary line.  Without these nothing else
  can be read.
* PR01 - every parameter of the signature is documented; PR02 - no documented
  parameter is unknown to the signature (a renamed argument left behind).  These are
  what a user reads the docstring for, and what silently goes stale.
* RT01 - a Returns (or Yields) section wherever the code returns a value (numpydoc
  looks at the source for ``return value``/``yield``).  Properties are exempt: numpydoc
  style documents them as attributes, by their summary line.

Style rules (summary punctuation and capitalisation, the order of sections, a
description for every parameter type, examples) are left out on purpose: they would
make the test about trivia instead of about a user finding what an argument is.

Arrays must say their shape: for the parameters named ``X``, ``y``, ``theta``, ``grad``
and ``v`` (the library's array arguments), the type or description must mention
"shape".  A machine cannot check this for every array argument; these names always are
arrays here.

Classes built by ``NamedTuple`` or ``dataclass`` get their signature from their fields;
fields documented in an ``Attributes`` section count as documented for PR01.  A
function taking ``**options`` may document each keyword as a parameter (as
:func:`bpnet_xp.training.fit` does): those are not "unknown" (PR02), and then
``**options`` needs no entry of its own.

The test runs once per module, so that a failure names the module, and lists every
offending name with its codes.  It skips when numpydoc is not installed.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re

import pytest

numpydoc_validate = pytest.importorskip("numpydoc.validate", reason="the docstring checks need numpydoc")
from numpydoc.docscrape import ClassDoc, FunctionDoc  # noqa: E402

import bpnet_xp  # noqa: E402

#: The numpydoc codes enforced (see the module docstring for why these and no others).
RULES = ("GL08", "SS01", "PR01", "PR02", "RT01")
#: Parameters that are always arrays in this library: their documentation must give a shape.
ARRAY_PARAMETERS = ("X", "y", "theta", "grad", "v")
_SHAPE = re.compile(r"\bshape\b", re.IGNORECASE)


def _module_names() -> list[str]:
    names = ["bpnet_xp"]
    for info in pkgutil.walk_packages(bpnet_xp.__path__, "bpnet_xp."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


MODULES = _module_names()


def _public_objects(module) -> list[tuple[str, object]]:
    """``(qualified name, object)`` of every public function, class and class member of ``module``."""
    found = []
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj):
            found.append((f"{module.__name__}.{name}", obj))
        elif inspect.isclass(obj):
            found.append((f"{module.__name__}.{name}", obj))
            for member, raw in sorted(vars(obj).items()):
                if member.startswith("_"):
                    continue
                if isinstance(raw, (staticmethod, classmethod)):
                    raw = raw.__func__
                if inspect.isfunction(getattr(raw, "fn", None)):  # scikit-learn's available_if
                    raw = raw.fn
                if inspect.isfunction(raw) or isinstance(raw, property):
                    found.append((f"{module.__name__}.{name}.{member}", raw))
    return found


def _attribute_names(cls) -> set[str]:
    names = set()
    for entry in ClassDoc(cls)["Attributes"]:
        names.update(part.strip() for part in entry.name.split(","))
    return names


def _generated_signature(obj) -> bool:
    """A NamedTuple or dataclass: the signature is the fields'."""
    return inspect.isclass(obj) and (hasattr(obj, "_fields") or hasattr(obj, "__dataclass_fields__"))


def _errors(qualified: str, obj) -> list[str]:
    """The enforced numpydoc errors of one object, as "CODE message" strings."""
    result = numpydoc_validate.validate(qualified)
    errors = [(code, message) for code, message in result["errors"] if code in RULES]
    if isinstance(obj, property):
        errors = [(code, message) for code, message in errors if code != "RT01"]
    if _generated_signature(obj) and any(code == "PR01" for code, _ in errors):
        documented = _attribute_names(obj)
        fields = set(getattr(obj, "_fields", ()) or getattr(obj, "__dataclass_fields__", {}))
        if fields <= documented:
            errors = [(code, message) for code, message in errors if code != "PR01"]
    errors = _keyword_options(obj, errors)
    errors = [f"{code} {message}" for code, message in errors]
    return errors + _missing_shapes(obj)


def _named_set(message: str) -> set:
    """The names of a PR01/PR02 message ("Parameters {'a', 'b'} not documented")."""
    return set(ast.literal_eval(message[message.index("{"):message.rindex("}") + 1]))


def _keyword_options(obj, errors: list) -> list:
    """``**options`` documented keyword by keyword (numpydoc's usual practice) is documented.

    For a function taking ``**name``, documented names that the signature lacks are
    its keywords (not PR02), and ``**name`` itself needs no entry when they exist.
    """
    try:
        parameters = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return errors
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return errors
    extra = [message for code, message in errors if code == "PR02"]
    kept = []
    for code, message in errors:
        if code == "PR02":
            continue
        if code == "PR01" and extra and all(name.startswith("**") for name in _named_set(message)):
            continue
        kept.append((code, message))
    return kept


def _missing_shapes(obj) -> list[str]:
    """SHAPE errors: array parameters (:data:`ARRAY_PARAMETERS`) documented without a shape."""
    function = obj.__init__ if inspect.isclass(obj) else obj
    if isinstance(function, property) or not callable(function):
        return []
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return []
    wanted = [name for name in ARRAY_PARAMETERS if name in parameters]
    if not wanted:
        return []
    doc = ClassDoc(obj) if inspect.isclass(obj) else FunctionDoc(obj)
    described = {}
    for entry in doc["Parameters"]:
        for name in entry.name.split(","):
            described[name.strip()] = entry.type + " " + " ".join(entry.desc)
    return [f"SHAPE parameter {name!r} is an array: say its shape (e.g. 'array, shape (m, n_inputs)')"
            for name in wanted if name in described and not _SHAPE.search(described[name])]


def test_the_walk_finds_the_package():
    # A walk that found nothing would pass every module check below.
    assert {"bpnet_xp.model", "bpnet_xp.sklearn", "bpnet_xp.cli.report", "bpnet_xp.solvers.scg"} <= set(MODULES)
    names = [name for name, _ in _public_objects(importlib.import_module("bpnet_xp.model"))]
    assert "bpnet_xp.model.MLP" in names and "bpnet_xp.model.MLP.fit" in names


def test_the_rules_catch_a_bad_docstring(tmp_path, monkeypatch):
    # The checks must be able to fail: a module with an undocumented parameter, a stale
    # parameter, a missing Returns section and an array without a shape.
    (tmp_path / "bpnet_xp_docstring_probe.py").write_text(
        'def bad(X, alpha):\n'
        '    """Do something.\n\n    Parameters\n    ----------\n    X : array\n        Data.\n'
        '    beta : float\n        Gone.\n    """\n'
        '    return X\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("bpnet_xp_docstring_probe")
    [(qualified, obj)] = _public_objects(module)
    codes = {error.split()[0] for error in _errors(qualified, obj)}
    assert codes == {"PR01", "PR02", "RT01", "SHAPE"}


@pytest.mark.parametrize("module_name", MODULES)
def test_public_docstrings_follow_numpydoc(module_name):
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:  # an optional extra (scikit-learn, ...) that is not installed
        pytest.skip(f"{module_name} cannot be imported here: {exc}")
    failures = []
    for qualified, obj in _public_objects(module):
        failures += [f"{qualified}: {error}" for error in _errors(qualified, obj)]
    assert not failures, f"{len(failures)} numpydoc problems in {module_name}:\n" + "\n".join(failures)
