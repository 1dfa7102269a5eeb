"""The verification engine: prove a loss's gradient right, for ours and for yours.

:func:`check` takes any loss, the gradient you claim for it and example inputs,
and measures, in float64:

1. the value against an independent reference (when you give one);
2. ``jax.grad`` of the summed loss against the claimed gradient;
3. central finite differences against the claimed gradient (a random direction),
   and :func:`jax.test_util.check_grads` in forward and reverse mode (order 2 for
   smooth losses);
4. finiteness of values and gradients at stress inputs (huge or ``-inf`` masked
   logits, zero targets...) in their own dtype, and that the dtype is preserved;
5. ``jax.jit`` against eager execution, and ``jax.vmap`` over the leading axis
   against the batched call.

Example:
  >>> import jax.numpy as jnp
  >>> from jaxlosses import verify
  >>> def loss(x, y):
  ...     return (x - y) ** 4
  >>> def claimed(x, y):
  ...     return 4 * (x - y) ** 3
  >>> x, y = jnp.array([0.5, -1.0, 2.0]), jnp.array([0.0, 0.0, 1.0])
  >>> verify.check(loss, claimed, x, y).passed
  True
  >>> verify.check(loss, lambda x, y: 3 * (x - y) ** 2, x, y).passed
  False
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.test_util import check_grads

__all__ = ["CaseReport", "Report", "Tolerances", "check", "verify_entry"]


@dataclasses.dataclass(frozen=True)
class Tolerances:
    """Pass thresholds; every error is relative to the scale of the reference."""

    value: float = 1e-9
    autodiff: float = 1e-9
    finite_difference: float = 1e-6
    jit: float = 1e-10
    vmap: float = 1e-10


@dataclasses.dataclass
class CaseReport:
    """What :func:`check` measured on one example."""

    label: str
    value_error: float = math.nan
    autodiff_error: float = math.nan
    fd_error: float = math.nan
    check_grads_order: int = 0
    check_grads_ok: bool = True
    stress_ok: bool = True
    stress_cases: int = 0
    jit_error: float = math.nan
    vmap_error: float = math.nan
    failures: list[str] = dataclasses.field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclasses.dataclass
class Report:
    """Verification of one loss over all its examples."""

    name: str
    cases: list[CaseReport]
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.cases)

    @property
    def failures(self) -> list[str]:
        return [f"[{c.label}] {f}" for c in self.cases for f in c.failures]

    def _max(self, attr: str) -> float:
        vals = [getattr(c, attr) for c in self.cases if not math.isnan(getattr(c, attr))]
        return max(vals) if vals else math.nan

    @property
    def value_error(self) -> float:
        return self._max("value_error")

    @property
    def autodiff_error(self) -> float:
        return self._max("autodiff_error")

    @property
    def fd_error(self) -> float:
        return self._max("fd_error")

    @property
    def jit_error(self) -> float:
        return self._max("jit_error")

    @property
    def vmap_error(self) -> float:
        return self._max("vmap_error")

    @property
    def stress_cases(self) -> int:
        return sum(c.stress_cases for c in self.cases)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "seconds": round(self.seconds, 3),
            "value_error": _json_float(self.value_error),
            "autodiff_error": _json_float(self.autodiff_error),
            "fd_error": _json_float(self.fd_error),
            "jit_error": _json_float(self.jit_error),
            "vmap_error": _json_float(self.vmap_error),
            "stress_cases": self.stress_cases,
            "cases": [
                {k: _json_float(v) for k, v in dataclasses.asdict(c).items()} for c in self.cases
            ],
            "failures": self.failures,
        }


def _json_float(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else str(v)
    return v


# --- error measures --------------------------------------------------------------


def rel_error(actual: Any, expected: Any) -> float:
    """``max|a - b| / max(max|b|, 1e-30)`` over a pytree; ``inf`` on NaN or shape mismatch."""
    a_leaves = jax.tree_util.tree_leaves(actual)
    b_leaves = jax.tree_util.tree_leaves(expected)
    if len(a_leaves) != len(b_leaves):
        return math.inf
    worst = 0.0
    for a, b in zip(a_leaves, b_leaves):
        a = np.asarray(a, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        if a.shape != b.shape:
            return math.inf
        if a.size == 0:
            continue
        if np.isnan(a).any() or np.isnan(b).any():
            return math.inf
        same_inf = np.isinf(a) & (a == b)
        diff = np.where(same_inf, 0.0, np.abs(a - b))
        finite_b = np.abs(np.where(np.isfinite(b), b, 0.0))
        scale = max(float(finite_b.max()), 1e-30)
        worst = max(worst, float(diff.max()) / scale)
    return worst


def _to_x64(x: Any) -> Any:
    if isinstance(x, np.ndarray | jax.Array) and jnp.issubdtype(x.dtype, jnp.floating):
        return jnp.asarray(x, dtype=jnp.float64)
    if isinstance(x, np.ndarray | jax.Array):
        return jnp.asarray(x)
    return x


def _as_tuple(argnums: int | Sequence[int]) -> tuple[int, ...]:
    return (argnums,) if isinstance(argnums, int) else tuple(argnums)


def _summed(
    loss_fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    argnums: tuple[int, ...],
) -> Callable[..., jax.Array]:
    """``diff_args -> loss_fn(*args with diff_args substituted).sum()``."""

    def f(*diff: Any) -> jax.Array:
        full = list(args)
        for i, d in zip(argnums, diff):
            full[i] = d
        return jnp.sum(loss_fn(*full, **kwargs))

    return f


def _claimed_tuple(g: Any, n: int) -> tuple[Any, ...]:
    if n == 1:
        return (g[0],) if isinstance(g, tuple) and len(g) == 1 else (g,)
    if not isinstance(g, tuple) or len(g) != n:
        raise TypeError(f"the claimed gradient must be a tuple of {n} arrays, one per argnum")
    return g


# --- the check -------------------------------------------------------------------


def check(
    loss_fn: Callable[..., Any],
    grad_fn: Callable[..., Any],
    *example_args: Any,
    argnums: int | Sequence[int] = 0,
    kwargs: Mapping[str, Any] | None = None,
    reference: Callable[..., Any] | None = None,
    smooth: bool = True,
    stress: Iterable[tuple[Sequence[Any], Mapping[str, Any]]] = (),
    in_axes: int | Sequence[int | None] = 0,
    kw_axes: Mapping[str, int | None] | None = None,
    label: str = "example",
    tolerances: Tolerances = Tolerances(),
    seed: int = 0,
    order: int | None = None,
) -> CaseReport:
    """Checks a loss and its claimed gradient on one example; see the module docstring.

    Args:
      loss_fn: ``loss_fn(*example_args, **kwargs)`` returns per-example losses.
      grad_fn: the claimed gradient of ``loss_fn(...).sum()`` with respect to
        ``argnums``: one array for a single argnum, else a tuple in argnum order.
      *example_args: example inputs (floating ones are promoted to float64).
      argnums: which positional arguments are differentiated.
      kwargs: keyword arguments for both functions.
      reference: optional independent implementation; called with NumPy float64 arrays
        and the same kwargs, it returns the expected loss value.
      smooth: twice differentiable at the example (check_grads runs to order 2);
        ``False`` for piecewise losses such as hinge or Huber (order 1).
      stress: extra ``(args, kwargs)`` examples kept in their own dtype (e.g. float32
        logits of magnitude 1e4, ``-inf`` masked logits) that must give finite values and
        gradients and the first argument's dtype.
      in_axes: ``jax.vmap`` axes of the positional arguments for the vmap check (``0``:
        every array argument is batched along its leading axis). ``None`` skips the check.
      kw_axes: vmap axes of array keyword arguments (default: not mapped).
      label: a name for the example in the report.
      tolerances: the pass thresholds.
      seed: seed of the finite-difference direction.
      order: the check_grads order; default 2 for smooth losses, 1 otherwise.

    Returns:
      A :class:`CaseReport`; ``.passed`` is true when everything held.
    """
    kwargs = dict(kwargs or {})
    nums = _as_tuple(argnums)
    report = CaseReport(label=label)
    fail = report.failures.append
    with jax.enable_x64(True):
        args = tuple(_to_x64(a) for a in example_args)
        kw = {k: _to_x64(v) for k, v in kwargs.items()}
        f = _summed(loss_fn, args, kw, nums)
        diff = tuple(args[i] for i in nums)

        value = loss_fn(*args, **kw)
        if reference is not None:
            np_args = [np.asarray(a) if isinstance(a, jax.Array) else a for a in args]
            np_kw = {k: np.asarray(v) if isinstance(v, jax.Array) else v for k, v in kw.items()}
            expected = reference(*np_args, **np_kw)
            report.value_error = rel_error(value, expected)
            if not report.value_error <= tolerances.value:
                fail(f"value differs from the reference: rel. error {report.value_error:.2e}")

        auto = jax.grad(f, argnums=tuple(range(len(nums))))(*diff)
        try:
            claimed = _claimed_tuple(grad_fn(*args, **kw), len(nums))
        except TypeError as e:
            fail(str(e))
            return report
        report.autodiff_error = rel_error(auto, claimed)
        if not report.autodiff_error <= tolerances.autodiff:
            fail(f"jax.grad differs from the closed form: rel. error {report.autodiff_error:.2e}")

        report.fd_error = _fd_error(f, diff, claimed, seed)
        if not report.fd_error <= tolerances.finite_difference:
            fail(f"finite differences differ from the closed form: {report.fd_error:.2e}")

        report.check_grads_order = order or (2 if smooth else 1)
        try:
            check_grads(jax.jit(f), diff, order=report.check_grads_order, modes=("fwd", "rev"))
        except AssertionError as e:
            report.check_grads_ok = False
            fail(f"jax.test_util.check_grads failed: {str(e).strip().splitlines()[0]}")

        jitted = jax.jit(lambda *a: loss_fn(*a, **kw))(*args)
        report.jit_error = rel_error(jitted, value)
        if not report.jit_error <= tolerances.jit:
            fail(f"jit differs from eager: rel. error {report.jit_error:.2e}")

        if in_axes is not None:
            report.vmap_error = _vmap_error(loss_fn, args, kw, in_axes, kw_axes or {}, value)
            if not report.vmap_error <= tolerances.vmap:
                fail(f"vmap differs from the batched call: rel. error {report.vmap_error:.2e}")

    # Stress inputs run in the default configuration (float32 unless the user enabled x64).
    for i, (s_args, s_kw) in enumerate(stress):
        report.stress_cases += 1
        problem = _stress_problem(loss_fn, tuple(s_args), dict(s_kw), nums)
        if problem:
            report.stress_ok = False
            fail(f"stress input {i}: {problem}")
    return report


def _fd_error(
    f: Callable[..., jax.Array], diff: tuple[Any, ...], claimed: tuple[Any, ...], seed: int
) -> float:
    """Central difference along a random direction vs ``<claimed, direction>``.

    Scaled by ``‖claimed‖ ‖direction‖`` so that a near-zero projection does not inflate it.
    """
    rng = np.random.default_rng(seed)
    dirs = tuple(rng.standard_normal(np.shape(d)) for d in diff)
    h = 1e-6
    plus = f(*(d + h * v for d, v in zip(diff, dirs)))
    minus = f(*(d - h * v for d, v in zip(diff, dirs)))
    fd = float(plus - minus) / (2 * h)
    proj = sum(float(np.sum(np.asarray(g) * v)) for g, v in zip(claimed, dirs))
    gnorm = math.sqrt(sum(float(np.sum(np.asarray(g) ** 2)) for g in claimed))
    vnorm = math.sqrt(sum(float(np.sum(v**2)) for v in dirs))
    if not (math.isfinite(fd) and math.isfinite(proj)):
        return math.inf
    return abs(fd - proj) / max(gnorm * vnorm, 1e-12)


def _vmap_error(
    loss_fn: Callable[..., Any],
    args: tuple[Any, ...],
    kw: Mapping[str, Any],
    in_axes: int | Sequence[int | None],
    kw_axes: Mapping[str, int | None],
    value: Any,
) -> float:
    if isinstance(in_axes, int):
        axes = tuple(in_axes if isinstance(a, jax.Array) and a.ndim > 0 else None for a in args)
    else:
        axes = tuple(in_axes)
    mapped_kw = {k: v for k, v in kw.items() if kw_axes.get(k) is not None}
    static_kw = {k: v for k, v in kw.items() if k not in mapped_kw}

    def per_example(*a: Any) -> Any:
        *pos, mkw = a
        return loss_fn(*pos, **mkw, **static_kw)

    batched = jax.vmap(per_example, in_axes=(*axes, {k: kw_axes[k] for k in mapped_kw}))(
        *args, mapped_kw
    )
    return rel_error(batched, value)


def _stress_problem(
    loss_fn: Callable[..., Any], args: tuple[Any, ...], kw: dict[str, Any], nums: tuple[int, ...]
) -> str:
    args = tuple(jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in args)
    value = loss_fn(*args, **kw)
    want = jnp.asarray(args[0]).dtype
    if jnp.asarray(value).dtype != want:
        return f"returned dtype {jnp.asarray(value).dtype} for a {want} input"
    if not bool(jnp.all(jnp.isfinite(value))):
        return f"non-finite value {np.asarray(value).ravel()[:6]}"
    grads = jax.grad(_summed(loss_fn, args, kw, nums), argnums=tuple(range(len(nums))))(
        *(args[i] for i in nums)
    )
    for g in jax.tree_util.tree_leaves(grads):
        if not bool(jnp.all(jnp.isfinite(g))):
            return "non-finite gradient"
    return ""


def verify_entry(entry: Any, *, seed: int = 0) -> Report:
    """Runs :func:`check` on every example of a catalogue entry."""
    import time

    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    cases = []
    stress = [(c.args, c.kwargs) for c in entry.stress()] if entry.stress else []
    for i, case in enumerate(entry.sample(rng)):
        cases.append(
            check(
                entry.fn,
                entry.grad,
                *case.args,
                argnums=entry.argnums,
                kwargs=case.kwargs,
                reference=entry.reference,
                smooth=entry.smooth,
                stress=stress if i == 0 else (),
                in_axes=case.in_axes,
                kw_axes=case.kw_axes,
                label=case.label,
                seed=seed + i,
                # Second-order checks on the first example keep the suite fast; every
                # example still gets first-order checks in both modes.
                order=None if i == 0 else 1,
            )
        )
    return Report(entry.name, cases, time.perf_counter() - start)
