"""The family pages' plots: each loss and its slope along one input, from the catalogue.

For each loss of a family, the first sampled example of its catalogue entry is taken
(``Entry.sample`` with a fixed seed), and one entry of its first learned input is swept
over ``x0 ± 3 s`` (``x0`` its sampled value, ``s`` the spread of that input) with every
other input held: the entry the loss is most sensitive to at the sample (the true
class's logit of a cross-entropy, the residual of a regression, a margin's score). The
plot shows the loss of that example (of the whole batch, for a loss that couples the
examples) and its derivative along the sweep. An input whose sampled values all lie in
``[0, 1]`` (probabilities) or are all positive (rates, measures) is swept within that
range.

The curves are the catalogue's independent NumPy references (proven equal to the loss,
and its closed-form gradient to autodiff, by ``python -m jaxlosses verify``), and the
slope is their central difference on the sweep's grid: no JAX compilation, so the whole
set takes about a second. Where a reference is undefined (a probability swept below 0)
the curve has a gap.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

POINTS = 121
SEED = 0


def _batched(arg: Any, axis: int | None, n: int) -> Any:
    """``n`` copies of the first example of ``arg`` along ``axis`` (``None``: shared)."""
    if axis is None or not isinstance(arg, np.ndarray) or arg.ndim == 0:
        return arg
    return np.repeat(np.take(arg, [0], axis=axis), n, axis=axis)


def _evaluator(entry: Any) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray], str]:
    """(first input, ``f(batch of first inputs) -> losses per variant``, how it reduces).

    The variants differ in the first input only. A per-example loss (``in_axes`` not
    ``None``) evaluates all variants in one batched reference call, each variant in the
    batch slot of example 0; a loss that couples the examples is called once per variant.
    """
    case = entry.sample(np.random.default_rng(SEED))[0]
    args, kwargs = list(case.args), dict(case.kwargs)
    first = np.asarray(args[0], dtype=np.float64)
    axes = case.in_axes
    per_arg = (axes,) * len(args) if isinstance(axes, int) else axes
    if per_arg is None or per_arg[0] != 0 or case.kw_axes:

        def whole(variants: np.ndarray) -> np.ndarray:
            out = [np.sum(entry.reference(v, *args[1:], **kwargs)) for v in variants]
            return np.asarray(out, dtype=np.float64)

        return first, whole, "batch"

    def batched(variants: np.ndarray) -> np.ndarray:
        n = len(variants)
        rest = [_batched(a, ax, n) for a, ax in zip(args[1:], per_arg[1:], strict=True)]
        out = np.asarray(entry.reference(variants[:, 0], *rest, **kwargs), dtype=np.float64)
        return out.reshape(n, -1)  # the example's losses, one row per variant

    return first, batched, "example"


def sweep(entry: Any) -> dict[str, Any]:
    """The swept entry's index, the grid, the loss and its slope along it.

    For an element-wise loss (one loss per input entry) the loss is the swept entry's
    own; otherwise the example's (the batch's, for a loss that couples the examples).
    """
    first, losses, reduces = _evaluator(entry)
    example = first[:1] if reduces == "example" else first
    flat = example.reshape(-1)
    own = False

    def evaluate(variants: np.ndarray) -> np.ndarray:
        out = losses(variants)
        return out[:, k] if own else (out if out.ndim == 1 else out.sum(axis=1))

    # The most sensitive entry: the largest central-difference slope at the sample.
    h = 1e-4 * max(float(np.std(first)), 1e-2)
    bumps = np.repeat(flat[None], 2 * flat.size, axis=0)
    bumps[np.arange(flat.size), np.arange(flat.size)] += h
    bumps[flat.size + np.arange(flat.size), np.arange(flat.size)] -= h
    with np.errstate(all="ignore"):
        values = evaluate(_variants(first, bumps, reduces))
    slopes = np.abs(values[: flat.size] - values[flat.size :])
    k = int(np.nanargmax(np.where(np.isfinite(slopes), slopes, -1.0)))
    own = reduces == "example" and losses(_variants(first, flat[None], reduces)).size == flat.size
    spread = max(float(np.std(first)), 0.1)
    low, high = flat[k] - 3.0 * spread, flat[k] + 3.0 * spread
    if first.min() > 0:
        low = max(low, 1e-3 * float(first.min()))
        if first.max() < 1:
            high = min(high, 1.0 - 1e-3 * (1.0 - float(first.max())))
    grid = np.linspace(low, high, POINTS)
    rows = np.repeat(flat[None], POINTS, axis=0)
    rows[:, k] = grid
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = evaluate(_variants(first, rows, reduces))
        loss = np.where(np.isfinite(loss), loss, np.nan)
        slope = np.gradient(loss, grid)
    index = np.unravel_index(k, example.shape)
    return {"index": tuple(int(i) for i in index), "grid": grid, "loss": loss, "slope": slope}


def _variants(first: np.ndarray, rows: np.ndarray, reduces: str) -> np.ndarray:
    """Rows of flattened (example 0 | whole) first inputs -> the full first inputs."""
    if reduces == "example":
        return rows.reshape(len(rows), 1, *first.shape[1:])
    return rows.reshape(len(rows), *first.shape)


def _input_name(entry: Any) -> str:
    return entry.inputs.split(",")[0].strip().rstrip("*")


def family_svg(entries: Sequence[Any], cache: Path | None = None) -> bytes:
    """One figure: the losses (left) and their slopes (right) along each one's sweep.

    Drawing takes most of the time, so with ``cache`` (a folder) a figure whose curves,
    labels and drawing code are unchanged is read back from there.
    """
    curves = []
    for entry in entries:
        try:
            s = sweep(entry)
        except Exception as error:  # a new loss the sweep cannot take: say so, in its panel
            empty = np.full(2, np.nan)
            label = f"{entry.name}  (no plot: {type(error).__name__})"
            curves.append((label, np.array([0.0, 1.0]), empty, empty))
            continue
        label = f"{entry.name}  ({_input_name(entry)}[{', '.join(map(str, s['index']))}])"
        curves.append((label, s["grid"], s["loss"], s["slope"]))
    key = hashlib.sha256(Path(__file__).read_bytes())
    for label, *arrays in curves:
        key.update(label.encode())
        for a in arrays:
            key.update(np.ascontiguousarray(a).tobytes())
    cached = cache / f"{key.hexdigest()[:20]}.svg" if cache is not None else None
    if cached is not None and cached.is_file():
        return cached.read_bytes()
    svg = _draw(curves)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(svg)
    return svg


def _limits(*arrays: np.ndarray) -> tuple[float, float]:
    """Robust y limits: a slope that blows up at a domain edge (log 0) would flatten the
    rest of the curve."""
    pooled = np.concatenate([a[np.isfinite(a)] for a in arrays])
    if not pooled.size:
        return -1.0, 1.0
    lo, hi = (float(v) for v in np.percentile(pooled, [1, 99]))
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    pad = 0.08 * max(hi - lo, 1e-6)
    return lo - pad, hi + pad


def _draw(curves: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]) -> bytes:
    """Small multiples, one panel per loss: the loss (solid) and its slope (dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "jaxlosses"  # the same bytes for the same figure
    plt.rcParams["svg.fonttype"] = "none"  # text as text: smaller, searchable
    cols = min(3, len(curves))
    rows = -(-len(curves) // cols)
    height = 2.5 * rows + 0.6
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, height), squeeze=False)
    # Fixed margins (in inches), not a layout engine: it would double the drawing time.
    fig.subplots_adjust(
        left=0.5 / (3.0 * cols),
        right=0.99,
        top=1 - 0.3 / height,
        bottom=0.95 / height,
        wspace=0.3,
        hspace=0.75,
    )
    for ax, (label, grid, loss, slope) in zip(axes.flat, curves, strict=False):
        name, _, where = label.partition("  ")
        ax.plot(grid, loss, color="C0", linewidth=1.6, label="loss")
        ax.plot(grid, slope, color="C1", linewidth=1.4, linestyle="--", label="d loss / d x")
        ax.axhline(0.0, color="0.6", linewidth=0.7)
        ax.set_ylim(*_limits(loss, slope))
        ax.set_title(name, fontsize="medium", family="monospace")
        where = where.strip("()")
        ax.set_xlabel(where if where.startswith("no plot") else f"x = {where}", fontsize="small")
        ax.tick_params(labelsize="small")
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(curves) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, frameon=False)
    out = io.BytesIO()
    fig.savefig(out, format="svg", metadata={"Date": None})
    plt.close(fig)
    return out.getvalue()
