"""Griffe extension: how the package's docstrings become these pages.

1. A few losses share a paragraph of their docstring through a ``{placeholder}`` that
   the module fills in when it is imported (the cost-matrix arguments of the margin
   losses). Griffe reads the source statically and would render the raw placeholder, so
   for a function whose docstring still contains one, the runtime ``__doc__`` is used.
2. The docstrings follow optax's habits: Google sections with a few reStructuredText
   constructs (``.. math::`` blocks, ``:func:`name``` roles, ```title <url>`_`` links).
   Those are rewritten to Markdown (``$$`` blocks rendered by MathJax, code spans,
   links) for the site; the sources are not touched.
3. Doctest blocks (``>>>`` lines and their output, up to a blank line) become fenced
   ``pycon`` blocks, and ``::`` literal blocks fenced ``python`` blocks, so they are
   highlighted with a copy button instead of being read as nested Markdown quotes. The
   doctest flags (``# doctest: +SKIP``) are dropped and ``<BLANKLINE>`` becomes an empty
   line; ``docs/stylesheets/extra.css`` keeps the prompts and the output out of what the
   copy button copies, so a copied example runs as pasted. The doctests themselves are
   run by pytest (``--doctest-modules``) from the unchanged sources.
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
_DOCTEST_FLAGS = re.compile(r"\s*#\s*doctest:.*$")


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


def _block(lines: list[str], i: int, indent: int, *, more: bool) -> int:
    """The end of the block starting at ``lines[i]``: non-blank lines indented at least
    ``indent`` (a doctest and its output) or, with ``more``, blank lines and lines
    indented more than ``indent`` (a literal block; trailing blank lines excluded)."""

    def inside(line: str) -> bool:
        if not line.strip():
            return more
        return _indent(line) > indent if more else _indent(line) >= indent

    while i < len(lines) and inside(lines[i]):
        i += 1
    while more and i > 0 and not lines[i - 1].strip():
        i -= 1
    return i


def _code_blocks(text: str) -> str:
    """Doctests -> ```` ```pycon ```` and ``::`` literal blocks -> ```` ```python ````."""
    lines, out, i = text.splitlines(), [], 0
    fenced = False
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith("```"):
            fenced = not fenced
        pad = line[: _indent(line)]
        if not fenced and stripped.startswith(">>>"):
            end = _block(lines, i + 1, _indent(line), more=False)
            body = [_DOCTEST_FLAGS.sub("", b).replace("<BLANKLINE>", "") for b in lines[i:end]]
            out += [f"{pad}```pycon", *(b.rstrip() for b in body), f"{pad}```"]
            i = end
            continue
        literal = not fenced and stripped.endswith("::") and not stripped.startswith("..")
        if literal and i + 2 < len(lines) and not lines[i + 1].strip():
            start = i + 2
            code_pad = lines[start][: _indent(lines[start])]
            end = _block(lines, start, _indent(line), more=True)
            if end > start:
                body = [b[len(code_pad) :] if b.strip() else "" for b in lines[start:end]]
                out += [line[:-1], "", f"{pad}```python", *(pad + b for b in body), f"{pad}```"]
                i = end
                continue
        out.append(line)
        i += 1
    return "\n".join(out)


def to_markdown(text: str) -> str:
    text = _code_blocks(_math_blocks(text))
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
