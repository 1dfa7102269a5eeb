"""Log-semiring matrix products for the parallel-in-time recursions (CRF and CTC).

A forward recursion ``alpha_t = alpha_{t-1} M_t`` in the log semiring (logsumexp for +,
+ for x) is a product of per-step matrices, and that product is associative: prefixes and
suffixes come from :func:`jax.lax.associative_scan` in ``O(log T)`` depth instead of ``T``
sequential steps, at the price of ``S``-fold more work (matrix-matrix instead of
vector-matrix products, ``S`` states) and ``[T, ..., S, S]`` memory. This module holds the
exact product (:func:`log_matmul`), products kept with a scalar shift so that they never
overflow (:data:`Product`, :func:`combine`), and the rule that picks a method
(:func:`choose_method`), shared by :mod:`jaxlosses._crf` and :mod:`jaxlosses._ctc`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from ._primitives import lse_of_shifted, shift

METHODS = ("auto", "sequential", "parallel")

# "auto" on an accelerator picks "parallel" from this many steps on ...
PARALLEL_MIN_STEPS = 64
# ... while the [T, N, S, S] step matrices have at most this many entries (2 ** 27: 512 MiB
# in float32 per copy; the scans hold a few copies). On CPU "auto" is always "sequential":
# bench/crf_parallel.py and bench/ctc_parallel.py measured no length at which "parallel"
# wins there (bench/results/crf_parallel_cpu.md, bench/results/ctc_parallel_cpu.md).
PARALLEL_MAX_ENTRIES = 2**27


def choose_method(method: str, steps: int, entries: int, fn: str) -> str:
    """``"sequential"`` or ``"parallel"`` for the ``method`` argument of ``fn``.

    ``entries``: the number of entries of the step matrices (``T * N * S * S``). ``"auto"``:
    ``"parallel"`` on a non-CPU backend (:func:`jax.default_backend`) when
    ``steps >= PARALLEL_MIN_STEPS`` and ``entries <= PARALLEL_MAX_ENTRIES``, else
    ``"sequential"``. One step has nothing to scan and is always sequential.
    """
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(
            f"{fn}: `method` must be one of {', '.join(map(repr, METHODS))}, got {method!r}. "
            '"auto" picks by backend, sequence length and number of states.'
        )
    if steps == 1:
        return "sequential"
    if method == "auto":
        fits = entries <= PARALLEL_MAX_ENTRIES
        long = steps >= PARALLEL_MIN_STEPS
        return "parallel" if jax.default_backend() != "cpu" and long and fits else "sequential"
    return method


def log_matmul(p: jax.Array, q: jax.Array) -> jax.Array:
    """``log(exp(p) @ exp(q))`` over the last two axes, exact for entries of any magnitude.

    Each entry ``C[i, j] = log sum_k exp(p[i, k] + q[k, j])`` is shifted by its own max over
    ``k``. (Factoring the shift as a row max of ``p`` plus a column max of ``q``, which turns
    this into a real matmul, underflows to ``-inf`` when the best ``k`` of ``(i, j)`` is
    neither's best, routinely so for scores of 1e4.) Beyond ``_BROADCAST_STATES`` states the
    ``K`` terms are visited by a loop, so no ``[..., K, K, K]`` array is formed. An entry
    whose terms are all ``-inf`` is ``-inf`` (never ``-inf - (-inf)``); a NaN term makes its
    entry NaN.
    """
    k = p.shape[-1]
    if k <= _BROADCAST_STATES:  # few states: all K terms at once, K times the memory of C
        terms = p[..., :, :, None] + q[..., None, :, :]
        top = jnp.max(terms, axis=-2, keepdims=True)
        top = lax.stop_gradient(jnp.where(jnp.isfinite(top), top, 0.0))
        total = jnp.sum(jnp.exp(terms - top), axis=-2)
        empty = total == 0
        return jnp.where(empty, -jnp.inf, jnp.log(jnp.where(empty, 1.0, total)) + top[..., 0, :])

    def term(i: jax.Array | int) -> jax.Array:
        left = lax.dynamic_index_in_dim(p, i, p.ndim - 1, keepdims=False)
        right = lax.dynamic_index_in_dim(q, i, q.ndim - 2, keepdims=False)
        return left[..., :, None] + right[..., None, :]

    top = lax.fori_loop(1, k, lambda i, acc: jnp.maximum(acc, term(i)), term(0))
    top = lax.stop_gradient(jnp.where(jnp.isfinite(top), top, 0.0))
    total = lax.fori_loop(0, k, lambda i, acc: acc + jnp.exp(term(i) - top), jnp.zeros_like(top))
    empty = total == 0
    return jnp.where(empty, -jnp.inf, jnp.log(jnp.where(empty, 1.0, total)) + top)


_BROADCAST_STATES = 8  # up to this many states, log_matmul forms its [..., K, K, K] terms


Product = tuple[jax.Array, jax.Array]  # ([..., K, K] shifted to max 0, [...] the shift)


def shifted_matrix(v: jax.Array) -> Product:
    """``v`` as a :data:`Product`: shifted so that its largest entry is 0, and the shift."""
    shifted, c = shift(v, (v.ndim - 2, v.ndim - 1), None)
    return shifted, c[..., 0, 0]


def combine(left: Product, right: Product) -> Product:
    """The semiring product ``left @ right`` of two shifted matrices, shifted again."""
    (p, cp), (q, cq) = left, right
    prod, c = shifted_matrix(log_matmul(p, q))
    return prod, cp + cq + c


def tree_product(mats: Product) -> Product:
    """``M_0 @ ... @ M_{T-1}`` of ``[T, ..., S, S]`` by a balanced tree of pairwise products.

    Depth ``log T``, and half the work of the prefix products of an associative scan.
    """
    p, c = mats
    while p.shape[0] > 1:
        even = p.shape[0] // 2 * 2
        pp, cc = combine((p[0:even:2], c[0:even:2]), (p[1:even:2], c[1:even:2]))
        p, c = jnp.concatenate([pp, p[even:]]), jnp.concatenate([cc, c[even:]])
    return p[0], c[0]


def log_vecmat(v: jax.Array, mat: Product) -> jax.Array:
    """``log(exp(v) @ exp(M))``: ``v`` ``[..., S]`` times a shifted matrix ``[..., S, S]``."""
    p, c = mat
    return lse(v[..., :, None] + p, axis=-2) + c[..., None]


def lse(v: jax.Array, axis: int) -> jax.Array:
    """Stable ``logsumexp`` over one axis; ``-inf`` (with a finite gradient) if all ``-inf``."""
    shifted, c = shift(v, (axis,), None)
    return jnp.squeeze(lse_of_shifted(shifted, (axis,)) + c, axis)
