"""Every docstring example runs as written: it imports each name it uses.

``pytest --doctest-modules`` runs the examples, but with the module's own globals, so
an example that uses ``jnp`` without importing it passes there and fails when a user
pastes it. This test reads each example as code and fails on any name it loads that
the example itself neither imports nor assigns (builtins aside).
"""

from __future__ import annotations

import ast
import builtins
import doctest
import importlib
import pkgutil
from collections.abc import Iterator

import pytest

import jaxlosses

_BUILTINS = set(dir(builtins))


def _examples() -> Iterator[tuple[str, doctest.DocTest]]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    names = ["jaxlosses"] + [
        m.name for m in pkgutil.walk_packages(jaxlosses.__path__, "jaxlosses.")
    ]
    for name in names:
        if name.startswith("jaxlosses.catalogue"):
            continue
        module = importlib.import_module(name)
        for test in finder.find(module, name):
            if test.examples:
                yield test.name, test


def _free_names(source: str) -> set[str]:
    tree = ast.parse(source)
    bound: set[str] = set()
    loaded: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.Lambda):
            if isinstance(node, ast.FunctionDef):
                bound.add(node.name)
            bound.update(a.arg for a in node.args.args + node.args.kwonlyargs)
        elif isinstance(node, ast.comprehension):
            bound.update(n.id for n in ast.walk(node.target) if isinstance(n, ast.Name))
    return loaded - bound - _BUILTINS


EXAMPLES = dict(_examples())


def test_there_are_examples():
    assert len(EXAMPLES) > 50


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_imports_what_it_uses(name: str):
    source = "\n".join(e.source for e in EXAMPLES[name].examples)
    missing = _free_names(source)
    assert not missing, f"{name}: the example uses {sorted(missing)} without importing them"


def test_the_check_finds_a_missing_import():
    assert _free_names("import jaxlosses as jl\njl.f(jnp.ones(3))\n") == {"jnp"}
    assert not _free_names("import jax.numpy as jnp\n[x for x in jnp.ones(2)]\n")
