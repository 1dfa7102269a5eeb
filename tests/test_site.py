"""The built documentation site, as a reader meets it (``mkdocs build --strict``).

tests/test_docs.py checks the pages' sources; these tests build the site once (a few
seconds) and check what its HTML holds: docstring examples are highlighted ``pycon``
code blocks (not Markdown quotes), a Returns section is one row, MathJax is served by the
site itself (no CDN), and each family page has its loss/gradient plot. Then a real
browser (Debian's headless Chromium) opens the home page, a family page and an API page
with every host but the local server unreachable, and the DOM after the scripts ran must
hold code blocks with copy buttons, typeset math and signatures; screenshots go to
``build/site-screenshots/``.

Needs the ``docs`` extra and npm (MathJax comes from the npm registry, pinned in
``docs/package-lock.json``) and, for the browser tests, a ``chromium`` executable
(``apt-get install chromium`` on Debian). Skipped without them unless
``JAXLOSSES_REQUIRE_EXTRAS=1`` (set by ``.ci/run``, which installs Chromium), where a
missing one is a failure.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "build" / "site-screenshots"
REQUIRED = bool(os.environ.get("JAXLOSSES_REQUIRE_EXTRAS"))

if REQUIRED:
    importlib.import_module("mkdocs")
    assert shutil.which("npm"), "the docs build installs MathJax with npm"
else:
    pytest.importorskip("mkdocs", reason="building the site needs the `docs` extra")
    if shutil.which("npm") is None:
        pytest.skip(
            "the site serves MathJax from the npm registry: no npm", allow_module_level=True
        )

sys.path.insert(0, str(ROOT / "docs"))
from griffe_runtime_docstrings import to_markdown  # noqa: E402
from hooks import MATHJAX_ENTRY, MATHJAX_URI  # noqa: E402

del sys.path[0]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def _pages(site: Path) -> Iterator[tuple[str, str]]:
    for path in sorted(site.rglob("*.html")):
        yield path.relative_to(site).as_posix(), path.read_text()


# -- the docstrings' Markdown (no build) ------------------------------------------------


def test_doctest_blocks_become_pycon_code():
    doc = "Example:\n  >>> x = 1  # doctest: +SKIP\n  >>> print(x)\n  1\n  <BLANKLINE>\n\nAfter."
    assert to_markdown(doc) == (
        "Example:\n  ```pycon\n  >>> x = 1\n  >>> print(x)\n  1\n\n  ```\n\nAfter."
    )


def test_literal_blocks_become_python_code():
    doc = "It runs as::\n\n    f(x)\n\n    g(x)\n\nThen more."
    assert to_markdown(doc) == "It runs as:\n\n```python\nf(x)\n\ng(x)\n```\n\nThen more."


def test_fenced_code_is_left_alone():
    doc = "```pycon\n>>> 1\n1\n```"
    assert to_markdown(doc) == doc


# -- the built HTML ---------------------------------------------------------------------


def test_examples_are_highlighted_code_not_quotes(site: Path):
    prompts = 0
    for name, html in _pages(site):
        assert "<blockquote" not in html, f"{name}: a docstring line was read as a quote"
        assert not re.search(r"<p>\s*&gt;&gt;&gt;", html), f"{name}: a `>>>` line as prose"
        prompts += html.count('<span class="gp">&gt;&gt;&gt; </span>')
    assert prompts > 200, prompts  # every loss has an example


def test_returns_sections_are_one_row(site: Path):
    rows = []
    for name, html in _pages(site):
        for m in re.finditer(r"Returns:</span></p>\s*<table>(.*?)</table>", html, re.DOTALL):
            rows.append((name, m.group(1).count('<tr class="doc-section-item">')))
    assert len(rows) > 50
    assert all(n == 1 for _, n in rows), [r for r in rows if r[1] != 1]


def test_math_is_served_by_the_site(site: Path):
    entry = site / MATHJAX_URI / MATHJAX_ENTRY
    assert entry.is_file() and entry.stat().st_size > 500_000
    assert "Apache License" in (site / MATHJAX_URI / "LICENSE").read_text()
    fonts = list((site / MATHJAX_URI / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    assert len(fonts) > 10
    remote = re.compile(r"""(?:src|href)=["'](?:https?:)?//[^"']*""")
    for name, html in _pages(site):
        if "arithmatex" in html:
            assert f"{MATHJAX_URI}/{MATHJAX_ENTRY}" in html, name
        scripts_and_styles = [
            u for u in remote.findall(html) if re.search(r"\.(js|css|woff2?)\b|fonts\.", u)
        ]
        assert not scripts_and_styles, f"{name} loads {scripts_and_styles}"
