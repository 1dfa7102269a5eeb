"""The code in docs/contributing.md ("Adding a loss") is real and runs.

Rule for Python code blocks in docs/ (fences that open with ```` ```python ````):

* a block with a ``title="PATH"`` (pymdownx.highlight) is an **excerpt** of the file at
  ``PATH`` (relative to the repository root): each run of lines between ``# ...`` lines
  must appear verbatim in that file as whole, consecutive lines, and the runs in that
  order. It is not executed
  (excerpts of a module need the module's imports).
* a block without a title is **executed**, in order, as one script per page, by
  ``tests/test_snippets.py`` (which runs every page's blocks), so the walk-through's
  checks and the catalogue API example stay true.

The page must also name the five files that adding a loss touches.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGE = DOCS / "contributing.md"
_FENCE = re.compile(r"^```python(?P<info>[^\n]*)\n(?P<code>.*?)^```$", re.MULTILINE | re.DOTALL)
_TITLE = re.compile(r'title="(?P<path>[^"]+)"')
_ELISION = "# ..."


def _blocks(page: Path) -> list[tuple[str | None, str]]:
    """``(title or None, code)`` of each Python block of ``page``."""
    out = []
    for m in _FENCE.finditer(page.read_text()):
        title = _TITLE.search(m.group("info"))
        out.append((title.group("path") if title else None, m.group("code")))
    return out


def _excerpts() -> list[tuple[str, str, str]]:
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        for path, code in _blocks(page):
            if path is not None:
                found.append((str(page.relative_to(ROOT)), path, code))
    return found


def test_the_walk_through_has_excerpts_and_runnable_code():
    blocks = _blocks(PAGE)
    assert sum(path is not None for path, _ in blocks) >= 5
    assert any(path is None for path, _ in blocks)


@pytest.mark.parametrize(
    ("page", "path", "code"), _excerpts(), ids=lambda v: v if "\n" not in v else ""
)
def test_titled_python_blocks_are_verbatim_excerpts(page: str, path: str, code: str):
    source = (ROOT / path).read_text().splitlines()
    chunks: list[list[str]] = [[]]
    for line in code.splitlines():
        if line.strip() == _ELISION:
            chunks.append([])
        else:
            chunks[-1].append(line)
    at = 0
    for chunk in chunks:
        while chunk and not chunk[0].strip():
            chunk = chunk[1:]
        while chunk and not chunk[-1].strip():
            chunk = chunk[:-1]
        if not chunk:
            continue
        # Whole lines, contiguous, after the previous run.
        found = next(
            (
                i
                for i in range(at, len(source) - len(chunk) + 1)
                if source[i : i + len(chunk)] == chunk
            ),
            None,
        )
        assert found is not None, (
            f"{page}: a block titled {path!r} is no longer (in this order) in {path}:\n"
            + "\n".join(chunk)
        )
        at = found + len(chunk)


def test_adding_a_loss_touches_the_five_files_it_names():
    text = PAGE.read_text()
    section = text.split("## Adding a loss", 1)[1].split("\n### ", 1)[0]
    named = re.findall(r"^\| `(?P<file>[^`]+)` \|", section, re.MULTILINE)
    assert named == [
        "jaxlosses/_<family>.py",
        "jaxlosses/__init__.py",
        "jaxlosses/closed_form.py",
        "jaxlosses/catalogue/<family>.py",
        "docs/families/<family>.md",
    ]
    assert "**five files**" in section
