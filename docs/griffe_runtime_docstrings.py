"""Griffe extension: how the package's docstrings become these pages.

1. A few losses share a paragraph of their docstring through a ``{placeholder}`` that
   the module fills in when it is imported (the cost-matrix arguments of the margin
   losses). Griffe reads the source statically and would render the raw placeholder, so
   for a function whose docstring still contains one, the runtime ``__doc__`` is used.
2. The docstrings follow optax's habits: Google sections with a few reStructuredText
   constructs (``.. math::`` blocks, ``:func:`name``` roles, ```title <url>`_`` links).
   Those are rewritten to Markdown (``$$`` blocks rendered by MathJax, code spans,
   links) for the site; the sources are not touched.
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

import griffe

_PLACEHOLDER = re.compile(r"^\s*\{[A-Za-z_][A-Za-z0-9_]*\}\s*$", re.MULTILINE)
_ROLE = re.compile(r":(?:func|class|mod|data|attr|meth|obj):`~?([^`]+)`")
_LINK = re.compile(r"`([^`<]+?)\s*<(https?://[^>]+)>`_+")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _math_blocks(text: str) -> str:
    """``.. math:: expr`` plus more-indented continuation lines -> a ``$$`` block."""
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if not stripped.startswith(".. math::"):
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(stripped)]
        body = [stripped[len(".. math::") :].strip()]
        i += 1
        while i < len(lines) and lines[i].strip() and _indent(lines[i]) > len(indent):
            body.append(lines[i].strip())
            i += 1
        out += [f"{indent}$$", *(f"{indent}{b}" for b in body if b), f"{indent}$$"]
    return "\n".join(out)


def to_markdown(text: str) -> str:
    text = _math_blocks(text)
    text = _ROLE.sub(lambda m: f"`{m.group(1)}`", text)
    return _LINK.sub(lambda m: f"[{m.group(1).strip()}]({m.group(2)})", text)


class RuntimeDocstrings(griffe.Extension):
    def _convert(self, obj: griffe.Object) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)

    def on_function_instance(self, *, func: griffe.Function, **kwargs: Any) -> None:
        if func.docstring is not None and _PLACEHOLDER.search(func.docstring.value):
            runtime = getattr(importlib.import_module(func.module.path), func.name, None)
            doc = inspect.getdoc(runtime)
            if doc and not _PLACEHOLDER.search(doc):
                func.docstring.value = doc
        self._convert(func)

    def on_class_instance(self, *, cls: griffe.Class, **kwargs: Any) -> None:
        self._convert(cls)

    def on_module_instance(self, *, mod: griffe.Module, **kwargs: Any) -> None:
        self._convert(mod)

    def on_attribute_instance(self, *, attr: griffe.Attribute, **kwargs: Any) -> None:
        self._convert(attr)
