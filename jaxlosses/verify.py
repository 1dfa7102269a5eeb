"""The verification engine: prove a loss's gradient right, for ours and for yours.

:func:`check` takes any loss, the gradient you claim for it and example inputs,
and measures, in float64:

1. the value against an independent reference (when you give one);
2. the claimed gradient against ``jax.grad`` of the summed loss, element by element
   (each element relative to its own magnitude, with a floor of ``1e-5`` of the largest,
   so a wrong small coordinate cannot hide behind a large one), at the example and at
   random points near it (so a gradient right only by coincidence, such as a zero at a
   minimum, fails);
3. finite differences (a fourth-order stencil at two step sizes, whose disagreement and
   the round-off of the loss bound what they can tell) against the claimed gradient and
   against ``jax.grad`` w.r.t. **every other floating argument** (targets, weights, a
   second tower); elements at a kink or a domain boundary are skipped and counted;
   :func:`jax.test_util.check_grads` in forward and reverse mode (order 2 for smooth
   losses; reverse only, and said so, for a :func:`jax.custom_vjp` loss);
4. finiteness of values and gradients at stress inputs (huge or ``-inf`` masked
   logits, zero targets...) in their own dtype, and that the dtype is preserved; where
   the claimed gradient there differs from ``jax.grad`` in float64 is noted;
5. ``jax.jit`` against eager execution, and ``jax.vmap`` over the leading axis
   against the batched call (a loss that returns one value for the batch is named as
   reducing over the batch).

Failures name the argument, the worst element and its index, and the tolerance.

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

import contextlib
import dataclasses
import functools
import hashlib
import math
import os
import pickle
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["CaseReport", "Report", "Tolerances", "check", "verify_entry"]


@dataclasses.dataclass(frozen=True)
class Tolerances:
    """Pass thresholds.

    Values and gradients are compared element by element, each error relative to that
    element's own magnitude, with a floor of ``floor`` times the largest magnitude (so a
    wrong small coordinate cannot hide behind a large one, and round-off on a coordinate
    that is zero up to cancellation does not fail); jit and vmap relative to the largest.
    """

    value: float = 1e-9
    autodiff: float = 1e-9
    finite_difference: float = 1e-7
    jit: float = 1e-10
    vmap: float = 1e-10
    stress_autodiff: float = 1e-3
    floor: float = 1e-5
    stress_floor: float = 1e-3


@dataclasses.dataclass
class CaseReport:
    """What :func:`check` measured on one example."""

    label: str
    value_error: float = math.nan
    autodiff_error: float = math.nan
    fd_error: float = math.nan
    fd_points_skipped: int = 0
    check_grads_order: int = 0
    check_grads_ok: bool = True
    notes: list[str] = dataclasses.field(default_factory=list)
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
    def notes(self) -> list[str]:
        return [f"[{c.label}] {n}" for c in self.cases for n in c.notes]

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
            "notes": self.notes,
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


# --- verify's own compiled programs, kept between runs -----------------------------------
#
# JAX's persistent cache keeps compiled code, but finding an entry means tracing and lowering
# the program again (its key is the lowered module); for the checks that is most of a warm
# run. The command (`python -m jaxlosses verify`, with its cache on) also keeps the
# executables of the programs below, keyed by what determines them without tracing: the
# source of this engine and of each loss's module with every package module it imports
# (:func:`_source_digest`), the versions of Python, JAX, jaxlib and NumPy, the backend, the
# configuration that changes tracing, what the program closes over (the loss and its closed
# form by qualified name, keyword arguments and non-array arguments by value) and the shapes
# and dtypes of the arrays it is called with. A program that closes over anything else (a
# user's function, a lambda) has no key and is traced as before. Every check still runs
# every program on its inputs; only the tracing and lowering of an unchanged program are
# skipped.

_PROGRAMS: list[str | None] = [None]  # the directory, while the command has the store on
_CONFIG = (
    "jax_default_matmul_precision",
    "jax_numpy_rank_promotion",
    "jax_numpy_dtype_promotion",
    "jax_debug_nans",
    "jax_debug_infs",
    "jax_enable_checks",
    "jax_default_prng_impl",
)


@contextlib.contextmanager
def _program_store(directory: str | None) -> Iterator[None]:
    """Keeps (and reuses) the executables of the checks' programs in ``directory``."""
    previous, _PROGRAMS[0] = _PROGRAMS[0], directory
    try:
        yield
    finally:
        _PROGRAMS[0] = previous


class _NoKey(Exception):
    """What a program closes over cannot be named without tracing it."""


@functools.lru_cache(maxsize=1)
def _fingerprint() -> str:
    """This engine's source and the versions that trace and compile the programs."""
    import jaxlib

    with open(os.path.abspath(__file__), "rb") as fh:  # the checks' own programs
        h = hashlib.sha256(fh.read())
    versions = (sys.version, jax.__version__, jaxlib.__version__, np.__version__)
    h.update(repr(versions).encode())
    return h.hexdigest()


@functools.cache
def _source_digest(module: str) -> str:
    """A digest of :func:`_imported_sources`: what a function defined in ``module`` runs."""
    h = hashlib.sha256()
    for name, source in sorted(_imported_sources(module).items()):
        h.update(name.encode() + b"\0" + source)
    return h.hexdigest()


def _imported_sources(module: str) -> dict[str, bytes]:
    """The source of a package module and of every package module it imports, at any
    depth (imports inside functions included), by module name."""
    import ast

    package = __name__.split(".")[0]
    root = os.path.dirname(os.path.abspath(__file__))
    seen: dict[str, bytes] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or name.split(".")[0] != package:
            continue
        parts = name.split(".")[1:]
        path = os.path.join(root, *parts) + ".py"
        if not os.path.exists(path):
            path = os.path.join(root, *parts, "__init__.py")
        if not os.path.exists(path):  # a name imported from a module: that module
            todo.append(name.rsplit(".", 1)[0])
            continue
        with open(path, "rb") as fh:
            seen[name] = fh.read()
        is_package = path.endswith("__init__.py")
        here = name.split(".") if is_package else name.split(".")[:-1]
        for node in ast.walk(ast.parse(seen[name])):
            if isinstance(node, ast.Import):
                todo += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = here[: len(here) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                if node.module:
                    todo.append(target)
                todo += [f"{target}.{a.name}" for a in node.names]  # submodules by name
    return seen


def _described(x: Any) -> Any:
    """A canonical, printable description of a closed-over value; :class:`_NoKey` if none."""
    if isinstance(x, jax.Array | np.ndarray):
        a = np.asarray(x)
        if a.dtype == object:
            raise _NoKey
        return ("array", a.shape, str(a.dtype), hashlib.sha256(a.tobytes()).hexdigest())
    if isinstance(x, np.generic):
        return ("scalar", str(x.dtype), repr(x.item()))
    if x is None or isinstance(x, bool | int | float | complex | str):
        return (type(x).__name__, repr(x))
    if isinstance(x, tuple | list):
        return (type(x).__name__, tuple(_described(v) for v in x))
    if isinstance(x, dict):
        return ("dict", tuple((repr(k), _described(v)) for k, v in sorted(x.items(), key=repr)))
    if isinstance(x, functools.partial):
        return ("partial", _described(x.func), _described(x.args), _described(x.keywords))
    module, name = getattr(x, "__module__", None), getattr(x, "__qualname__", "")
    ours = bool(module) and str(module).split(".")[0] == __name__.split(".")[0]
    if callable(x) and ours and "<" not in name:  # not a lambda or local: named by its source
        return ("function", module, name, _source_digest(str(module)))
    raise _NoKey


def _program_key(what: Any, static: Mapping[int, Any], arrays: Sequence[Any]) -> str | None:
    """The store's key of a program, or ``None`` when it has none."""
    try:
        closed = _described((what, sorted(static.items())))
    except _NoKey:
        return None
    device = jax.devices()[0]
    description = (
        _fingerprint(),
        closed,
        tuple((a.shape, str(a.dtype), bool(getattr(a, "weak_type", False))) for a in arrays),
        str(jax.dtypes.canonicalize_dtype(np.float64)),  # x64 on or off (in context)
        tuple(str(getattr(jax.config, name, None)) for name in _CONFIG),
        device.platform,
        device.device_kind,
        os.environ.get("XLA_FLAGS", ""),
    )
    return hashlib.sha256(repr(description).encode()).hexdigest()


def _stored_program(jitted: Any, key: str, directory: str, arrays: Sequence[Any]) -> Any:
    """The executable of ``jitted`` for these arrays: loaded from the store, or compiled
    (through JAX's own cache) and stored."""
    from jax.experimental import serialize_executable

    path = os.path.join(directory, key + ".bin")
    try:
        with open(path, "rb") as fh:
            payload, in_tree, out_tree = pickle.loads(zlib.decompress(fh.read()))
        return serialize_executable.deserialize_and_load(payload, in_tree, out_tree)
    except Exception:  # absent, torn or from elsewhere: compile it
        pass
    lowered = jitted.lower(*arrays)
    # An executable that JAX loaded from its own persistent cache does not serialize again
    # (the copy misses code), so this one is compiled afresh: a key JAX never writes under
    # (the flag flipped), and no write (a minimum compile time no compile reaches).
    flags = (
        "jax_compilation_cache_include_metadata_in_key",
        "jax_persistent_cache_min_compile_time_secs",
    )
    saved = tuple(getattr(jax.config, flag) for flag in flags)
    jax.config.update(flags[0], not saved[0])
    jax.config.update(flags[1], 1e12)
    try:
        compiled = lowered.compile()
    finally:
        for flag, value in zip(flags, saved):
            jax.config.update(flag, value)
    try:
        payload = serialize_executable.serialize(compiled)
        # Stored only if the copy loads and gives the same outputs, bit for bit.
        copy = serialize_executable.deserialize_and_load(*payload)
        same = jax.tree_util.tree_map(
            lambda a, b: np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True),
            compiled(*arrays),
            copy(*arrays),
        )
        if all(jax.tree_util.tree_leaves(same)):
            os.makedirs(directory, exist_ok=True)
            temporary = f"{path}.{os.getpid()}.tmp"
            with open(temporary, "wb") as fh:
                fh.write(zlib.compress(pickle.dumps(payload), 1))
            os.replace(temporary, path)
    except Exception:  # a read-only or full disk, or a copy that fails: checked as before
        pass
    return compiled


class _Staged:
    """``fn(*args, **kw)`` compiled once for the example's shapes: positional arrays are
    traced, every other argument (keywords, Python scalars) is closed over as a constant.

    The checks evaluate a loss, its gradients and its closed form at many points of the
    same shape (finite-difference stencils, random nearby points); compiled once, each
    evaluation is one call instead of an op-by-op trace that compiles every primitive
    again. A function that cannot be traced (a user's NumPy gradient) runs eagerly.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kw: Mapping[str, Any],
        what: Any = None,
    ):
        self.fn, self.kw = fn, kw
        self.pos = tuple(i for i, a in enumerate(args) if isinstance(a, jax.Array))
        self.static = {i: a for i, a in enumerate(args) if i not in self.pos}
        self.n = len(args)
        self.eager = False
        self.jitted = jax.jit(self._call)
        # ``what``: all that ``fn`` closes over, for the program store (None: not stored).
        self.what = what
        self.program: Any = None

    def _full(self, arrays: Sequence[Any]) -> list[Any]:
        it = iter(arrays)
        return [self.static[i] if i in self.static else next(it) for i in range(self.n)]

    def _call(self, *arrays: Any) -> Any:
        return self.fn(*self._full(arrays), **self.kw)

    def _program(self, arrays: Sequence[Any]) -> Any:
        directory = _PROGRAMS[0]
        if directory is None or self.what is None:
            return self.jitted
        key = _program_key((self.what, self.kw), self.static, arrays)
        if key is None:
            return self.jitted
        return _stored_program(self.jitted, key, directory, arrays)

    def __call__(self, args: Sequence[Any]) -> Any:
        arrays = [args[i] for i in self.pos]
        if not self.eager:
            try:
                if self.program is None:
                    self.program = self._program(arrays)
                try:
                    return self.program(*arrays)
                except TypeError:  # other shapes than the stored program's
                    if self.program is self.jitted:
                        raise
                    return self.jitted(*arrays)
            except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError,
                    jax.errors.TracerBoolConversionError, jax.errors.TracerIntegerConversionError):  # fmt: skip
                self.eager = True
        return self._call(*arrays)


def _bundle(
    loss_fn: Callable[..., Any],
    grad_fn: Callable[..., Any],
    kw: Mapping[str, Any],
    nums: tuple[int, ...],
) -> Callable[..., Any]:
    """``*args -> (value, claimed gradient, jax.grad w.r.t. each of nums)``."""

    def run(*full: Any) -> Any:
        f = _summed(loss_fn, full, kw, nums)
        auto = jax.grad(f, argnums=tuple(range(len(nums))))(*(full[i] for i in nums))
        return loss_fn(*full, **kw), grad_fn(*full, **kw), auto

    return run


def _staged_grad(
    loss_fn: Callable[..., Any],
    args: tuple[Any, ...],
    kw: Mapping[str, Any],
    nums: tuple[int, ...],
) -> _Staged:
    """``jax.grad`` of the summed loss w.r.t. ``nums``, as a :class:`_Staged` function of
    the full positional arguments (a tuple, one gradient per argnum)."""

    def grads(*full: Any) -> Any:
        f = _summed(loss_fn, full, kw, nums)
        return jax.grad(f, argnums=tuple(range(len(nums))))(*(full[i] for i in nums))

    return _Staged(grads, args, {}, what=("grad", loss_fn, kw, nums))


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
    in_axes: int | Sequence[int | None] | None = 0,
    kw_axes: Mapping[str, int | None] | None = None,
    label: str = "example",
    tolerances: Tolerances = Tolerances(),
    seed: int = 0,
    order: int | None = None,
    points: int = 2,
) -> CaseReport:
    """Checks a loss and its claimed gradient on one example; see the module docstring.

    Args:
      loss_fn: ``loss_fn(*example_args, **kwargs)`` returns per-example losses.
      grad_fn: the claimed gradient of ``loss_fn(...).sum()`` with respect to
        ``argnums``: one array for a single argnum, else a tuple in argnum order.
      *example_args: example inputs (floating ones are promoted to float64).
      argnums: which positional arguments are differentiated (the claimed gradient's).
        ``jax.grad`` w.r.t. every *other* floating argument (targets, weights, a second
        tower) is checked against finite differences too.
      kwargs: keyword arguments for both functions.
      reference: optional independent implementation; called with NumPy float64 arrays
        and the same kwargs, it returns the expected loss value.
      smooth: twice differentiable at the example (check_grads runs to order 2);
        ``False`` for piecewise losses such as hinge or Huber (order 1).
      stress: extra ``(args, kwargs)`` examples kept in their own dtype (e.g. float32
        logits of magnitude 1e4, ``-inf`` masked logits) that must give finite values and
        gradients and the first argument's dtype; for smooth losses, where the claimed
        gradient there differs from ``jax.grad`` in float64 is listed in ``notes``.
      in_axes: ``jax.vmap`` axes of the positional arguments for the vmap check (``0``:
        every array argument is batched along its leading axis). ``None`` skips the check.
      kw_axes: vmap axes of array keyword arguments (default: not mapped).
      label: a name for the example in the report.
      tolerances: the pass thresholds.
      seed: seed of the finite-difference directions and of the extra points.
      order: the check_grads order; default 2 for smooth losses, 1 otherwise.
      points: how many random points near the example also compare the claimed
        gradient with ``jax.grad`` (so a gradient that is right only by coincidence at
        the example, such as a zero, cannot pass).

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
        names = _arg_names(loss_fn, len(args))

        value = loss_fn(*args, **kw)
        if reference is not None:
            np_args = [np.asarray(a) if isinstance(a, jax.Array) else a for a in args]
            np_kw = {k: np.asarray(v) if isinstance(v, jax.Array) else v for k, v in kw.items()}
            expected = reference(*np_args, **np_kw)
            worst = _compare(value, expected, tolerances.floor)
            report.value_error = worst.error
            if not worst.error <= tolerances.value:
                fail(
                    f"value differs from the reference: {worst.describe('value')}"
                    f" > tolerance {tolerances.value:.0e}"
                )

        # The claimed gradient against jax.grad, at the example and at random points near it.
        # One compiled program per example gives the value (for the jit check), the claimed
        # gradient and jax.grad w.r.t. every floating positional argument (the argnums
        # first), at the example and at the random points near it (same shapes).
        others = tuple(i for i, a in enumerate(args) if _is_float_array(a) and i not in nums)
        named = ("bundle", loss_fn, grad_fn, kw, nums + others)
        bundle = _Staged(_bundle(loss_fn, grad_fn, kw, nums + others), args, {}, named)
        try:
            jitted, claimed, auto_all = bundle(args)
            claimed = _claimed_tuple(claimed, len(nums))
        except TypeError as e:
            fail(str(e))
            return report
        rng = np.random.default_rng(seed)
        for k, point in enumerate([args, *(_nearby(args, nums, rng) for _ in range(points))]):
            at = "" if k == 0 else f" at random point {k} near the example"
            if k == 0:
                auto, got = auto_all[: len(nums)], claimed
            else:
                try:
                    v_k, c_k, a_k = bundle(point)
                except ValueError:
                    v_k = None
                if v_k is None or not np.all(np.isfinite(np.asarray(v_k))):
                    report.notes.append(f"random point {k}: outside the domain, skipped")
                    continue
                auto, got = a_k[: len(nums)], _claimed_tuple(c_k, len(nums))
            for j, (a, c) in enumerate(zip(auto, got)):
                worst = _compare(c, a, tolerances.floor)
                report.autodiff_error = _nanmax(report.autodiff_error, worst.error)
                if not worst.error <= tolerances.autodiff:
                    fail(
                        f"the closed form differs from jax.grad w.r.t. `{names[nums[j]]}`{at}: "
                        f"{worst.describe('claimed')} > tolerance {tolerances.autodiff:.0e}"
                    )

        # Finite differences: of the claimed gradient (argnums), and of jax.grad w.r.t.
        # every other floating argument.
        # One compiled sum of the loss over all positional arrays serves every argument's
        # stencils (one program per example, not one per argument).
        summed = _Staged(
            lambda *full: jnp.sum(loss_fn(*full, **kw)), args, {}, what=("summed", loss_fn, kw)
        )
        for i, name in enumerate(names):
            a = args[i] if i < len(args) else None
            if not _is_float_array(a):
                continue
            g = claimed[nums.index(i)] if i in nums else auto_all[len(nums) + others.index(i)]
            what = "the closed form" if i in nums else "jax.grad"

            def at_pos(x: jax.Array, i: int = i) -> Any:
                return summed((*args[:i], x, *args[i + 1 :]))

            _fd_check(report, at_pos, np.asarray(a), name, g, what, tolerances, rng)
        for name, v in kw.items():
            if _is_float_array(v):

                def at_kw(x: jax.Array, name: str = name) -> jax.Array:
                    return jnp.sum(loss_fn(*args, **{**kw, name: x}))

                g = _Staged(jax.grad(at_kw), (v,), {})((v,))
                _fd_check(
                    report, jax.jit(at_kw), np.asarray(v), name, g, "jax.grad", tolerances, rng
                )

        report.check_grads_order = order or (2 if smooth else 1)
        try:
            _check_grads(_Derivatives(loss_fn, args, kw, nums), report.check_grads_order, report)
        except AssertionError as e:
            report.check_grads_ok = False
            fail(f"jax.test_util.check_grads failed: {str(e).strip().splitlines()[0]}")

        report.jit_error = rel_error(jitted, value)
        if not report.jit_error <= tolerances.jit:
            fail(
                f"jit differs from eager: rel. error {report.jit_error:.2e} > tolerance "
                f"{tolerances.jit:.0e}"
            )

        if in_axes is not None:
            reduced = _reduces_over_batch(value, args, in_axes)
            if reduced:
                fail(reduced)
            else:
                report.vmap_error = _vmap_error(loss_fn, args, kw, in_axes, kw_axes or {}, value)
                if not report.vmap_error <= tolerances.vmap:
                    fail(
                        f"vmap differs from the batched call: rel. error "
                        f"{report.vmap_error:.2e} > tolerance {tolerances.vmap:.0e}"
                    )

    # Stress inputs run in the default configuration (float32 unless the user enabled x64).
    for i, (s_args, s_kw) in enumerate(stress):
        report.stress_cases += 1
        problem, claimed_s = _stress_problem(
            loss_fn, grad_fn if smooth else None, tuple(s_args), dict(s_kw), nums
        )
        if problem:
            report.stress_ok = False
            fail(f"stress input {i}: {problem}")
        elif smooth:
            mismatch = _stress_closed_form(
                loss_fn, claimed_s, tuple(s_args), dict(s_kw), nums, tolerances
            )
            if mismatch:
                report.notes.append(f"stress input {i}: {mismatch}")
    return report  # fmt: skip


@dataclasses.dataclass(frozen=True)
class _Mismatch:
    """The worst element of a comparison."""

    error: float
    leaf: int = 0
    index: tuple[int, ...] = ()
    actual: float = math.nan
    expected: float = math.nan

    def describe(self, what: str) -> str:
        where = f"[{', '.join(map(str, self.index))}]" if self.index else ""
        return (f"worst element {where} {what} {self.actual:.6g} vs {self.expected:.6g} "
                f"(error {self.error:.2e})")  # fmt: skip


def _compare(actual: Any, expected: Any, floor: float, absolute: float = 1e-300) -> _Mismatch:
    """Element-wise ``|a - b| / max(|b|, floor * max|b|)``: the worst element (``inf`` on
    a NaN, a different infinity or a shape mismatch)."""
    a_leaves = jax.tree_util.tree_leaves(actual)
    b_leaves = jax.tree_util.tree_leaves(expected)
    if len(a_leaves) != len(b_leaves):
        return _Mismatch(math.inf)
    worst = _Mismatch(0.0)
    for n, (a, b) in enumerate(zip(a_leaves, b_leaves)):
        a = np.asarray(a, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        if a.shape != b.shape:
            return _Mismatch(math.inf, n)
        if a.size == 0:
            continue
        finite_b = np.abs(np.where(np.isfinite(b), b, 0.0))
        scale = np.maximum(finite_b, max(floor * float(finite_b.max()), absolute))
        err = np.where(a == b, 0.0, np.abs(a - b) / scale)
        err = np.where(np.isnan(err), np.inf, err)
        k = int(np.argmax(err))
        if err.flat[k] > worst.error:
            idx = tuple(int(i) for i in np.unravel_index(k, a.shape))
            worst = _Mismatch(float(err.flat[k]), n, idx, float(a.flat[k]), float(b.flat[k]))
    return worst


def _nanmax(a: float, b: float) -> float:
    return b if math.isnan(a) else max(a, b)


def _arg_names(loss_fn: Callable[..., Any], n: int) -> list[str]:
    import inspect

    try:
        params = [
            p.name
            for p in inspect.signature(loss_fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        params = []
    return [params[i] if i < len(params) else f"argument {i}" for i in range(n)]


def _is_float_array(x: Any) -> bool:
    return isinstance(x, jax.Array | np.ndarray) and bool(jnp.issubdtype(x.dtype, jnp.floating))


def _nearby(
    args: tuple[Any, ...], nums: tuple[int, ...], rng: np.random.Generator
) -> tuple[Any, ...]:
    """The example with its differentiated arguments moved by about 1% at random."""
    out = list(args)
    for i in nums:
        x = np.asarray(args[i])
        if not np.issubdtype(x.dtype, np.floating):
            continue
        finite = np.isfinite(x)
        rms = float(np.sqrt(np.mean(np.where(finite, x, 0.0) ** 2))) if x.size else 0.0
        step = 0.01 * (np.abs(np.where(finite, x, 0.0)) + 0.1 * rms + 1e-3)
        out[i] = jnp.asarray(np.where(finite, x + step * rng.standard_normal(x.shape), x))
    return tuple(out)


def _fd_check(
    report: CaseReport,
    total: Callable[[jax.Array], Any],
    x: np.ndarray,
    name: str,
    grad: Any,
    what: str,
    tolerances: Tolerances,
    rng: np.random.Generator,
) -> None:
    """Compares ``grad`` w.r.t. one argument with finite differences, element by element
    for small arguments (a fourth-order stencil), along random directions for large ones.
    ``total(x)`` is the summed loss with the argument set to ``x``.
    Elements at a kink or a domain boundary (one-sided slopes disagree, or the loss is
    not finite a step away) are skipped and counted in ``fd_points_skipped``."""
    x0 = np.asarray(x, np.float64)
    g = np.asarray(grad, np.float64)

    if x0.size <= 256:
        dirs = [np.eye(x0.size)[j].reshape(x0.shape) for j in range(x0.size)]
        expect = [g.reshape(-1)[j] for j in range(x0.size)]
    else:
        dirs = [rng.standard_normal(x0.shape) for _ in range(4)]
        expect = [float(np.sum(g * d)) for d in dirs]
    gscale = float(np.max(np.abs(np.where(np.isfinite(g), g, 0.0)), initial=0.0))
    worst = _Mismatch(0.0)
    for j, (d, e) in enumerate(zip(dirs, expect)):
        if not np.isfinite(np.sum(np.where(d != 0, x0, 0.0))):
            continue  # a -inf masked logit: not a point of the domain
        # A step relative to the coordinate (1e-3 of it, at least 1e-6): near a domain
        # edge (a probability of 0.05) an absolute step would see the curvature.
        xscale = float(np.max(np.abs(np.where(d != 0, x0, 0.0)), initial=0.0))
        h = 1e-3 * max(xscale, 1e-3)
        f = [float(total(jnp.asarray(x0 + t * h * d))) for t in (-2, -1, 0, 1, 2)]
        if not all(math.isfinite(v) for v in f):
            report.fd_points_skipped += 1  # a domain boundary
            continue
        # A kink within two steps: the second differences at h and 2h are not in the
        # ratio 4 of a smooth function (for which they differ by h**4 times f'''' only).
        s1, s2 = f[3] - 2 * f[2] + f[1], f[4] - 2 * f[2] + f[0]
        if abs(s2 - 4 * s1) > 1e-3 * (abs(s1) + abs(s2)) + 1e-12 * max(abs(v) for v in f):
            report.fd_points_skipped += 1
            continue
        fd = (8 * (f[3] - f[1]) - (f[4] - f[0])) / (12 * h)
        # The same stencil at h/2: the two estimates differ by about their truncation
        # error, which with the round-off of the loss's value bounds what FD can tell.
        g2 = [float(total(jnp.asarray(x0 + t * h / 2 * d))) for t in (-2, -1, 1, 2)]
        fd2 = (8 * (g2[2] - g2[1]) - (g2[3] - g2[0])) / (6 * h)
        noise = 64 * np.finfo(np.float64).eps * max(abs(v) for v in f) / (h / 2)
        uncertainty = abs(fd - fd2) + noise
        scale = max(abs(e), tolerances.floor * max(gscale, 1e-300) * max(1.0, np.abs(d).sum()))
        miss = max(abs(fd2 - e) - uncertainty, 0.0) if math.isfinite(fd2) else math.inf
        err = miss / scale if math.isfinite(e) else math.inf
        if err > worst.error:
            idx = tuple(int(i) for i in np.unravel_index(j, x0.shape)) if x0.size <= 256 else ()
            worst = _Mismatch(err, 0, idx, float(e), fd2)
    report.fd_error = _nanmax(report.fd_error, worst.error)
    if not worst.error <= tolerances.finite_difference:
        fail = report.failures.append
        fail(f"finite differences differ from {what} w.r.t. `{name}`: "
             f"{worst.describe('gradient')} > tolerance {tolerances.finite_difference:.0e}")  # fmt: skip


class _Derivatives:
    """The functions :func:`jax.test_util.check_grads` differentiates, each a :class:`_Staged`
    program of the loss's full positional arguments (kept in the program store).

    ``check_grads(jax.jit(f), diff, order)`` traces and lowers a new program for every
    ``jax.jvp``/``jax.vjp`` it takes of ``f`` and of its derivatives, at every call: on a
    warm cache that was most of a check's time. Here each of those functions (``f``; its
    JVP and VJP; at order 2 the JVP and VJP of the JVP and of ``x -> vjp(f, x)(f(x))``) is
    one compiled program, and jax's own :func:`~jax.test_util.check_jvp` and
    :func:`~jax.test_util.check_vjp` compare them with finite differences exactly as
    ``check_grads`` does (same directions, step and tolerances).
    """

    def __init__(self, loss_fn: Callable[..., Any], args: tuple[Any, ...],
                 kw: Mapping[str, Any], nums: tuple[int, ...]):  # fmt: skip
        self.loss_fn, self.args, self.kw, self.nums = loss_fn, args, kw, nums
        self.programs: dict[str, _Staged] = {}

    def _f(self, full: Sequence[Any], d: Sequence[Any]) -> jax.Array:
        full = list(full)
        for i, x in zip(self.nums, d):
            full[i] = x
        return jnp.sum(self.loss_fn(*full, **self.kw))

    def _body(self, kind: str, flat: Sequence[Any]) -> Any:
        n, m = len(self.args), len(self.nums)
        full, extra = flat[:n], list(flat[n:])
        p = tuple(full[i] for i in self.nums)

        def f(*d: Any) -> jax.Array:
            return self._f(full, d)

        def jvp(p: tuple[Any, ...], t: tuple[Any, ...]) -> Any:
            return jax.jvp(f, p, t)

        def rev(*d: Any) -> Any:
            out, pull = jax.vjp(f, *d)
            return pull(out)

        t = tuple(extra[:m])
        if kind == "f":
            return f(*p)
        if kind == "jvp":
            return jvp(p, t)
        if kind == "vjp":
            out, pull = jax.vjp(f, *p)
            return out, pull(extra[0])
        if kind == "rev":
            return rev(*p)
        if kind == "jvp_jvp":
            return jax.jvp(jvp, (p, t), (tuple(extra[m : 2 * m]), tuple(extra[2 * m :])))
        if kind == "vjp_jvp":
            out, pull = jax.vjp(jvp, p, t)
            return out, pull((extra[m], extra[m + 1]))
        if kind == "jvp_rev":
            return jax.jvp(rev, p, t)
        out, pull = jax.vjp(rev, *p)  # "vjp_rev"
        return out, pull(tuple(extra))

    def __call__(self, kind: str, p: Sequence[Any], *extra: Any) -> Any:
        """The ``kind`` program at diff arguments ``p``, with flat extra arrays."""
        full = list(self.args)
        for i, x in zip(self.nums, p):
            full[i] = x
        flat = (*full, *extra)
        if kind not in self.programs:
            example = tuple(jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in flat)
            what = ("check_grads", kind, self.loss_fn, self.kw, self.nums)
            self.programs[kind] = _Staged(
                lambda *flat, kind=kind: self._body(kind, flat), example, {}, what=what
            )
        return self.programs[kind](flat)

    def check(self, order: int, modes: tuple[str, ...]) -> None:
        """``check_grads(jax.jit(f), diff, order, modes)`` (``order`` 1 or 2)."""
        from jax.test_util import check_jvp, check_vjp

        call = self.__call__
        diff = tuple(self.args[i] for i in self.nums)
        f = lambda *p: call("f", p)  # noqa: E731
        jvp = lambda p, t: call("jvp", p, *t)  # noqa: E731
        rev = lambda *p: call("rev", p)  # noqa: E731

        def vjp_of(kind: str, primal: Callable[..., Any]) -> Callable[..., Any]:
            def vjp(*p: Any) -> Any:
                out = primal(*p)
                flat_p = p[0] if kind == "vjp_jvp" else p
                extra = p[1] if kind == "vjp_jvp" else ()

                def pull(ct: Any) -> Any:
                    return call(kind, flat_p, *extra, *jax.tree_util.tree_leaves(ct))[1]

                return out, pull

            return vjp

        if "fwd" in modes:
            check_jvp(f, jvp, diff, err_msg="JVP")
            if order > 1:
                two = (diff, diff)

                def jvp_jvp(pt: Any, dpt: Any) -> Any:
                    return call("jvp_jvp", pt[0], *pt[1], *dpt[0], *dpt[1])

                check_jvp(jvp, jvp_jvp, two, err_msg="JVP of JVP")
                check_vjp(jvp, vjp_of("vjp_jvp", jvp), two, err_msg="VJP of JVP")
        if "rev" in modes:
            check_vjp(f, vjp_of("vjp", f), diff, err_msg="VJP")
            if order > 1:
                check_jvp(rev, lambda p, t: call("jvp_rev", p, *t), diff, err_msg="JVP of VJP")
                check_vjp(rev, vjp_of("vjp_rev", rev), diff, err_msg="VJP of VJP")


def _check_grads(f: _Derivatives, order: int, report: CaseReport) -> None:
    """check_grads in both modes; reverse only for a custom_vjp function (no forward mode)."""
    try:
        f.check(order, ("fwd", "rev"))
    except TypeError as e:
        if "custom_vjp" not in str(e) and "forward-mode" not in str(e):
            raise
        report.notes.append("forward mode unavailable (a custom_vjp rule): reverse mode only")
        f.check(1, ("rev",))


def _reduces_over_batch(value: Any, args: tuple[Any, ...], in_axes: Any) -> str:
    """A message when the loss returns one value for a batch it was asked to map over."""
    batched = [
        a for k, a in enumerate(args)
        if isinstance(a, jax.Array) and a.ndim > 0
        and (in_axes if isinstance(in_axes, int) else list(in_axes)[k]) is not None
    ]  # fmt: skip
    if batched and jnp.ndim(value) == 0 and batched[0].shape[0] > 1:
        return (
            "the loss returns one value (shape ()) for a batch of "
            f"{batched[0].shape[0]} examples: it reduces over the batch, so it is not a "
            "per-example loss; pass in_axes=None to skip the vmap check"
        )
    return ""


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

    mapped = jax.vmap(per_example, in_axes=(*axes, {k: kw_axes[k] for k in mapped_kw}))
    what = ("vmap", loss_fn, axes, {k: kw_axes[k] for k in mapped_kw}, static_kw)
    batched = _Staged(mapped, (*args, mapped_kw), {}, what)((*args, mapped_kw))
    return rel_error(batched, value)


def _stress_problem(
    loss_fn: Callable[..., Any],
    grad_fn: Callable[..., Any] | None,
    args: tuple[Any, ...],
    kw: dict[str, Any],
    nums: tuple[int, ...],
) -> tuple[str, Any]:
    """What is wrong with the loss at a stress input (``""`` when nothing), and the claimed
    gradient there when ``grad_fn`` is given: the value, ``jax.grad`` and the closed form
    are one compiled program."""
    args = tuple(jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in args)

    def run(*full: Any) -> Any:
        f = _summed(loss_fn, full, kw, nums)
        auto = jax.grad(f, argnums=tuple(range(len(nums))))(*(full[i] for i in nums))
        claimed = grad_fn(*full, **kw) if grad_fn is not None else None
        return loss_fn(*full, **kw), auto, claimed

    what = ("stress", loss_fn, grad_fn, kw, nums)
    value, grads, claimed = _Staged(run, args, {}, what)(args)
    want = jnp.asarray(args[0]).dtype
    if jnp.asarray(value).dtype != want:
        return f"returned dtype {jnp.asarray(value).dtype} for a {want} input", None
    if not bool(jnp.all(jnp.isfinite(value))):
        return f"non-finite value {np.asarray(value).ravel()[:6]}", None
    for g in jax.tree_util.tree_leaves(grads):
        if not bool(jnp.all(jnp.isfinite(g))):
            return "non-finite gradient", None
    return "", None if grad_fn is None else _claimed_tuple(claimed, len(nums))


def _stress_closed_form(
    loss_fn: Callable[..., Any],
    claimed: tuple[Any, ...],
    args: tuple[Any, ...],
    kw: dict[str, Any],
    nums: tuple[int, ...],
    tolerances: Tolerances,
) -> str:
    """The claimed gradient at a stress input against jax.grad of the same input in float64.

    Reported in ``CaseReport.notes`` (not a failure): at float32 extremes a closed form may
    legitimately round differently, and what the closed form of a surrogate (``log 0``
    stood in by ``log_epsilon``) should be is a convention; the notes list where they part.
    """
    with jax.enable_x64(True):
        args64 = tuple(_to_x64(a) for a in args)
        kw64 = {k: _to_x64(v) for k, v in kw.items()}
        exact = _staged_grad(loss_fn, args64, kw64, nums)(args64)
        for a, c in zip(exact, claimed):
            worst = _compare(c, a, tolerances.stress_floor, absolute=1e-6)
            if not worst.error <= tolerances.stress_autodiff:
                return (
                    "the closed form differs from jax.grad in float64: "
                    f"{worst.describe('claimed')} > {tolerances.stress_autodiff:.0e}"
                )
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


def _worker_init(cache: str | None) -> None:
    """A worker process of ``python -m jaxlosses verify --jobs N``: the same cache."""
    import jax

    if cache:
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        _PROGRAMS[0] = program_directory(cache)  # this process checks catalogue losses only


def program_directory(cache: str) -> str:
    """Where ``python -m jaxlosses verify`` keeps its programs: inside JAX's cache."""
    return os.path.join(cache, "jaxlosses-programs")


def _verify_one(name: str, seed: int) -> Report:
    """:func:`verify_entry` of a catalogue entry by name, in a worker process."""
    from .catalogue import CATALOGUE

    return verify_entry(CATALOGUE[name], seed=seed)
