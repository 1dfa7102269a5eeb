"""The built documentation site, as a reader meets it (``mkdocs build --strict``).

tests/test_docs.py checks the pages' sources; these tests build the site once (a few
seconds) and check what its HTML holds: docstring examples are highlighted ``pycon``
code blocks (not Markdown quotes), a Returns section is one row, MathJax is served by the
site itself (no CDN), and each family page has its loss/gradient plot. Then a real
browser (Debian's headless Chromium) opens the home page, a family page and an API page
with every host but the local server unreachable, and the DOM after the scripts ran must
hold code blocks with copy buttons, typeset math and signatures; screenshots go to
``build/site-screenshots/``. What the copy button copies from an example (its code,
without prompts or output) is read in the browser too, and run.

Needs the ``docs`` extra and npm (MathJax comes from the npm registry, pinned in
``docs/package-lock.json``, installed under ``build/npm``) and, for the browser tests, a
``chromium`` executable (``apt-get install chromium`` on Debian). Skipped without them unless
``JAXLOSSES_REQUIRE_EXTRAS=1`` (set by ``.ci/run``, which installs Chromium), where a
missing one is a failure.
"""

from __future__ import annotations

import functools
import http.server
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import numpy as np
import pytest

from jaxlosses.catalogue import CATALOGUE, FAMILIES

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
from hooks import MATHJAX_ENTRY, MATHJAX_URI, PLOT_URI, slug  # noqa: E402
from plots import sweep  # noqa: E402

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


# -- the plots (no build) --------------------------------------------------------------


@pytest.mark.parametrize("name", ["squared_error", "huber_loss"])
def test_a_sweep_is_the_loss_along_one_entry(name: str):
    s = sweep(CATALOGUE[name])
    case = CATALOGUE[name].sample(np.random.default_rng(0))[0]
    r = s["grid"] - case.args[1][s["index"]]  # the residual of the swept entry
    if name == "squared_error":
        loss, slope = r**2, 2 * r
    else:  # delta = 1
        loss, slope = np.where(abs(r) <= 1, r**2 / 2, abs(r) - 0.5), np.clip(r, -1, 1)
    np.testing.assert_allclose(s["loss"], loss, rtol=1e-12, atol=1e-12)
    # Central differences on the grid: exact for a quadratic, off only next to a kink.
    step = s["grid"][1] - s["grid"][0]
    smooth = np.abs(np.abs(r) - 1) > 2 * step
    np.testing.assert_allclose(s["slope"][1:-1][smooth[1:-1]], slope[1:-1][smooth[1:-1]], atol=1e-9)


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


@pytest.mark.parametrize("family", FAMILIES)
def test_family_page_has_its_plot(site: Path, family: str):
    html = (site / "families" / slug(family) / "index.html").read_text()
    assert f'src="../plots/{slug(family)}.svg"' in html
    svg = (site / PLOT_URI / f"{slug(family)}.svg").read_text()
    for e in CATALOGUE.values():
        if e.family == family:  # one panel per loss, titled with its name
            assert f">{e.name}</text>" in svg, f"no panel for {e.name}"
    assert "no plot" not in svg, "docs/plots.py could not sweep a loss (see its panel)"


# -- in a real browser ------------------------------------------------------------------

#: page -> (path, window height for the screenshot, what it must show).
PAGES = {
    "home": ("", 1400, {"code"}),
    "family": ("families/regression/", 4200, {"code", "math", "signatures"}),
    "api": ("api/helpers/", 4200, {"code", "math", "signatures"}),
}


def _chromium() -> str | None:
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[tuple[str, str]]:
    """(chromium executable, base URL of the site served on 127.0.0.1)."""
    exe = _chromium()
    if exe is None:
        reason = "no chromium executable for the browser tests (Debian: apt-get install chromium)"
        if REQUIRED:
            pytest.fail(f"JAXLOSSES_REQUIRE_EXTRAS is set but there is {reason}")
        pytest.skip(reason)
    handler = functools.partial(_Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield exe, f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


def _chromium_runs(exe: str, url: str, actions: list[list[str]]) -> list[str]:
    """Run headless Chromium once per action (``--dump-dom``, ``--screenshot=...``) at
    the same time, each after the page's scripts ran (virtual time), with every host but
    the local server unresolvable: the page must work offline. Returns their stdouts."""
    runs = []
    with tempfile.TemporaryDirectory() as profiles:
        for i, action in enumerate(actions):
            cmd = [
                exe,
                "--headless",
                "--no-sandbox",  # the tests may run as root (CI does)
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--no-first-run",
                f"--user-data-dir={profiles}/{i}",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--virtual-time-budget=20000",
                *action,
                url,
            ]
            runs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        outs = []
        for run in runs:
            out, err = run.communicate(timeout=180)
            assert run.returncode == 0, err.decode(errors="replace")[-3000:]
            outs.append(out.decode())
    return outs


@pytest.mark.parametrize("page", PAGES)
def test_page_in_a_browser(site: Path, served: tuple[str, str], page: str):
    path, height, shows = PAGES[page]
    exe, base = served
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"{page}.png"
    shot.unlink(missing_ok=True)
    actions = [["--dump-dom"], [f"--window-size=1280,{height}", f"--screenshot={shot}"]]
    dom, _ = _chromium_runs(exe, base + path, actions)
    static = (site / path / "index.html").read_text()

    # Code blocks, with the copy button the theme's script adds (so the scripts ran).
    blocks = static.count('<div class="highlight">')
    assert "code" in shows and blocks > 0
    assert dom.count('data-md-type="copy"') >= blocks, "the copy buttons are missing"
    if "math" in shows:
        maths = static.count('class="arithmatex"')
        assert maths > 0
        assert dom.count("<mjx-container") >= maths, "MathJax did not typeset the math"
        assert "<mjx-merror" not in dom, "MathJax reported a TeX error"
    if "signatures" in shows:
        names = re.findall(
            r'<div class="doc-signature highlight"><pre><span></span><code>'
            r'<span class="nf">(\w+)</span>',
            static,
        )
        assert len(names) > 3
        for name in names:
            assert f'<span class="nf">{name}</span>' in dom
    # A blank page renders to a PNG of a few kB; the page's text makes it far larger.
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 50_000, f"{shot} looks blank"


_COPY_PROBE = """<!doctype html><html><body><pre id="copied">not yet</pre>
<iframe id="page" src="PAGE" width="1200" height="800"></iframe>
<script>
// What the theme's copy button copies: the block's innerText while data-md-copying is
// set on it (so the stylesheet can hide the prompts and the output).
document.getElementById("page").addEventListener("load", () => {
  const doc = document.getElementById("page").contentDocument;
  const code = doc.querySelector("details.example div.highlight code");
  code.setAttribute("data-md-copying", "");
  const text = code.innerText;
  code.removeAttribute("data-md-copying");
  document.getElementById("copied").textContent = JSON.stringify(text);
});
</script></body></html>
"""


def test_copying_an_example_gives_code_that_runs(site: Path, served: tuple[str, str]):
    exe, base = served
    path = PAGES["family"][0]
    (site / "copy-probe.html").write_text(_COPY_PROBE.replace("PAGE", path))
    (dom,) = _chromium_runs(exe, base + "copy-probe.html", [["--dump-dom"]])
    copied = json.loads(unescape(re.search(r'<pre id="copied">(.*?)</pre>', dom).group(1)))
    assert copied.startswith("import jax.numpy as jnp\n"), copied
    assert ">>>" not in copied and "[" not in copied.splitlines()[-1][:1], copied
    namespace: dict[str, object] = {}
    exec(copied, namespace)  # the copied example runs as pasted
