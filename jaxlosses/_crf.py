r"""Linear-chain CRF inference: input parsing, forward, backward, Viterbi and marginals.

The layer under :mod:`jaxlosses._structured` (the losses; its docstring defines the path
score :math:`s(y)` of emissions ``[..., T, K]``, transitions ``[K, K]`` and optional start/end
scores ``[K]``) and the public helpers :func:`crf_marginals` and :func:`crf_decode`. The
forward algorithm (log space, :func:`jax.lax.scan`) gives the log-partition
:math:`\log Z = \log \sum_y \exp s(y)`, forward-backward gives the marginals, Viterbi the
best path, and a first-order expectation-semiring pass the gradient of an expected cost.

Everything here works on a :class:`Chain`: the validated inputs, time-major and flattened to
``[T, N, K]`` (``N`` sequences), which :func:`chain` builds and :func:`unflatten` /
:func:`per_sequence` / :func:`grads_out` map back to the caller's batch shape and dtypes.

Numerics: the forward, backward and Viterbi recursions renormalise their message at every
step (subtracting its max and accumulating the shift), so messages stay within the spread of
one step's scores whatever the length, and marginals are softmaxes of locally normalised
messages. Values and gradients stay finite for ``T = 2048`` and ``|emission| = 1e4`` in float32.

Masks: ``mask`` ``[..., T]`` marks a valid prefix. The first step is always valid, and any
step after the first ``False`` is treated as padding too (the mask is made a prefix), so
variable-length sequences can share one padded batch. Emissions and tags at padded steps
are ignored (their gradient is exactly 0).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike

from ._core import broadcast_or_raise, compute_dtype, floating, integer
from ._coupling import varying_like
from ._primitives import shift
from ._semiring import (
    Product,
    choose_method,
    combine,
    lse,
    shifted_matrix,
    tree_product,
)

__all__ = ["crf_decode", "crf_marginals"]


# --- input handling -------------------------------------------------------------------


class Chain(NamedTuple):
    """Validated inputs, time-major and flattened: ``T`` steps, ``N`` sequences, ``K`` tags."""

    dtype: np.dtype  # output dtype (the emissions')
    tdtype: np.dtype  # dtype of the transition gradient
    batch: tuple[int, ...]  # the emissions' batch shape
    x: jax.Array  # [T, N, K] emissions in the compute dtype, 0 at padded steps
    a: jax.Array  # [K, K]
    s: jax.Array  # [K] start scores (zeros when not given)
    f: jax.Array  # [K] end scores (zeros when not given)
    m: jax.Array  # [T, N] bool prefix mask

    def scores(self, x: jax.Array | None = None) -> tuple[jax.Array, ...]:
        """``(x, a, s, f, m)`` for the inference functions, with emissions ``x`` if given."""
        return (self.x if x is None else x), self.a, self.s, self.f, self.m


def _vector(v: ArrayLike | None, k: int, name: str, fn: str) -> jax.Array | None:
    if v is None:
        return None
    arr = floating(v, name, fn)
    if arr.shape != (k,):
        raise ValueError(
            f"{fn}: `{name}` must have shape [K] = ({k},) (one score per tag), got shape "
            f"{arr.shape}."
        )
    return arr


def chain(
    emissions: ArrayLike,
    transitions: ArrayLike,
    mask: ArrayLike | None,
    start_transitions: ArrayLike | None,
    end_transitions: ArrayLike | None,
    fn: str,
) -> Chain:
    arr = floating(emissions, "emissions", fn)
    if arr.ndim < 2 or 0 in arr.shape[-2:]:
        raise ValueError(
            f"{fn}: `emissions` must have shape [..., T, K] with T >= 1 steps and K >= 1 "
            f"tags, got shape {arr.shape}. For one sequence pass [T, K]."
        )
    *batch_list, t, k = arr.shape
    batch = tuple(batch_list)
    trans = floating(transitions, "transitions", fn)
    if trans.shape != (k, k):
        raise ValueError(
            f"{fn}: `transitions` must have shape [K, K] = ({k}, {k}) for emissions of shape "
            f"{arr.shape} (K = {k} tags; transitions[i, j] scores tag i -> tag j), got shape "
            f"{trans.shape}."
        )
    start = _vector(start_transitions, k, "start_transitions", fn)
    end = _vector(end_transitions, k, "end_transitions", fn)
    cdt = compute_dtype(arr.dtype)
    for v in (trans, start, end):
        if v is not None:
            cdt = np.dtype(jnp.promote_types(cdt, compute_dtype(v.dtype)))
    n = math.prod(batch)

    if mask is None:
        m = jnp.ones((t, n), bool)
    else:
        mk = jnp.asarray(mask)
        if mk.dtype != jnp.bool_:
            mk = mk != 0
        mk = broadcast_or_raise(
            mk,
            (*batch, t),
            f"{fn}: `mask` has shape {mk.shape} but emissions of shape {arr.shape} need a "
            f"boolean mask of shape [..., T] = {(*batch, t)} (True on each sequence's "
            "valid prefix).",
        )
        mk = mk.reshape(n, t).T
        # The first step is always valid; steps after the first invalid one are padding.
        mk = mk.at[0].set(True)
        m = jnp.cumsum(~mk, axis=0) == 0

    x = arr.astype(cdt).reshape(n, t, k).transpose(1, 0, 2)
    x = jnp.where(m[:, :, None], x, 0.0)
    zeros = jnp.zeros((k,), cdt)
    return Chain(
        dtype=np.dtype(arr.dtype),
        tdtype=np.dtype(trans.dtype),
        batch=batch,
        x=x,
        a=trans.astype(cdt),
        s=zeros if start is None else start.astype(cdt),
        f=zeros if end is None else end.astype(cdt),
        m=m,
    )


def gold(tags: ArrayLike, ch: Chain, fn: str) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Validated gold tags: ``(tags [T, N] clipped, one-hot [T, N, K] masked, ok [N])``.

    ``ok`` is False for a sequence with a tag outside ``[0, K)`` at a valid step.
    """
    lab = integer(tags, "tags", fn)
    t, n, k = ch.x.shape
    if lab.shape != (*ch.batch, t):
        raise ValueError(
            f"{fn}: `tags` has shape {lab.shape} but emissions of shape "
            f"{(*ch.batch, t, k)} need one integer tag per step, shape [..., T] = "
            f"{(*ch.batch, t)}."
        )
    g = lab.reshape(n, t).T
    in_range = (g >= 0) & (g < k)
    ok = jnp.all(in_range | ~ch.m, axis=0)
    g = jnp.where(in_range & ch.m, g, 0)
    onehot = jax.nn.one_hot(g, k, dtype=ch.x.dtype) * ch.m[:, :, None]
    return g, onehot, ok


def unflatten(v: jax.Array, ch: Chain) -> jax.Array:
    """``[T, N, ...]`` time-major back to ``[..., T, ...]`` with the emissions' batch shape."""
    v = jnp.moveaxis(v, 0, 1)
    return v.reshape(*ch.batch, *v.shape[1:])


def per_sequence(v: jax.Array, ch: Chain) -> jax.Array:
    return v.reshape(ch.batch).astype(ch.dtype)


def hamming_weight(cost_weight: ArrayLike, ch: Chain, fn: str) -> jax.Array:
    """The Hamming cost weight as ``[N]`` (a scalar or one weight per sequence)."""
    c = jnp.asarray(cost_weight)
    c = broadcast_or_raise(
        c,
        ch.batch,
        f"{fn}: `cost_weight` has shape {c.shape}; pass a scalar or one weight per "
        f"sequence, shape {ch.batch}.",
    )
    return c.astype(ch.x.dtype).reshape(-1)


def cost_augmented(ch: Chain, onehot: jax.Array, c: jax.Array) -> jax.Array:
    """Emissions plus ``c`` at every valid (step, tag) that differs from the gold tag."""
    return ch.x + c[None, :, None] * (ch.m[:, :, None] - onehot)


# --- inference ------------------------------------------------------------------------


def _normalise(v: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``v - max_k v`` over the last axis and the (gradient-free) shift ``[N]``."""
    shifted, c = shift(v, (v.ndim - 1,), None)
    return shifted, c[..., 0]


@jax.jit
def forward(
    x: jax.Array, a: jax.Array, s: jax.Array, f: jax.Array, m: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Forward algorithm; returns normalised messages ``[T, N, K]`` and ``log Z`` ``[N]``.

    ``alpha_t[j] = log sum_i exp(alpha_{t-1}[i] + A[i, j]) + E[t, j]`` up to a per-step shift
    that is accumulated separately; a padded step carries the previous message.
    """
    alpha0, logc0 = _normalise(s[None, :] + x[0])

    def step(carry, inp):
        alpha, logc = carry
        xt, mt = inp
        nxt, c = _normalise(lse(alpha[:, :, None] + a[None], axis=1) + xt)
        alpha = jnp.where(mt[:, None], nxt, alpha)
        logc = jnp.where(mt, logc + c, logc)
        return (alpha, logc), alpha

    (last, logc), rest = lax.scan(step, (alpha0, logc0), (x[1:], m[1:]))
    alphas = jnp.concatenate([alpha0[None], rest], axis=0)
    return alphas, logc + lse(last + f[None, :], axis=-1)


@jax.jit
def backward(x: jax.Array, a: jax.Array, f: jax.Array, m: jax.Array) -> jax.Array:
    """Backward algorithm; normalised messages ``[T, N, K]`` (``end`` from the last valid step)."""
    _, n, k = x.shape
    beta_last, _ = _normalise(varying_like(jnp.broadcast_to(f, (n, k)), x))

    def step(beta, inp):
        xn, mn = inp  # emissions and mask of the *next* step
        nxt, _ = _normalise(lse(a[None] + (xn + beta)[:, None, :], axis=2))
        beta = jnp.where(mn[:, None], nxt, beta)
        return beta, beta

    _, rest = lax.scan(step, beta_last, (x[1:], m[1:]), reverse=True)
    return jnp.concatenate([rest, beta_last[None]], axis=0)


def _marginals(
    alphas: jax.Array, betas: jax.Array, x: jax.Array, a: jax.Array, m: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Node ``[T, N, K]`` and pairwise ``[T-1, N, K, K]`` marginals from (shifted) messages."""
    node = jax.nn.softmax(alphas + betas, axis=-1) * m[:, :, None]
    t, n, k = x.shape
    logits = alphas[:-1, :, :, None] + a[None, None] + (x[1:] + betas[1:])[:, :, None, :]
    pair = jax.nn.softmax(logits.reshape(t - 1, n, k * k), axis=-1).reshape(t - 1, n, k, k)
    return node, pair * m[1:, :, None, None]


@functools.partial(jax.jit, static_argnames="method")
def forward_backward(
    x: jax.Array,
    a: jax.Array,
    s: jax.Array,
    f: jax.Array,
    m: jax.Array,
    method: str = "sequential",
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Forward-backward: node ``[T, N, K]``, pairwise ``[T-1, N, K, K]`` and ``log Z`` ``[N]``.

    Both marginals are 0 at padded steps (the pairwise one at index ``t - 1`` is the
    transition into step ``t``). ``method`` (``"sequential"`` or ``"parallel"``, as resolved
    by :func:`resolve_method`) picks the scans: :func:`forward` and :func:`backward`, or
    the prefix and suffix products of :func:`parallel_messages`.
    """
    if method == "parallel":
        alphas, betas, log_z = parallel_messages(x, a, s, f, m)
    else:
        alphas, log_z = forward(x, a, s, f, m)
        betas = backward(x, a, f, m)
    node, pair = _marginals(alphas, betas, x, a, m)
    return node, pair, log_z


@jax.jit
def viterbi(x: jax.Array, a: jax.Array, s: jax.Array, f: jax.Array, m: jax.Array) -> jax.Array:
    """Best path ``[T, N]`` int32 by max-product; padded steps repeat the last valid tag."""
    x, a, s, f = (lax.stop_gradient(v) for v in (x, a, s, f))
    _, n, k = x.shape
    delta0, _ = _normalise(s[None, :] + x[0])
    stay = jnp.broadcast_to(jnp.arange(k, dtype=jnp.int32), (n, k))

    def step(delta, inp):
        xt, mt = inp
        scores = delta[:, :, None] + a[None]  # [N, i, j]
        ptr = jnp.argmax(scores, axis=1).astype(jnp.int32)
        nxt, _ = _normalise(jnp.max(scores, axis=1) + xt)
        return jnp.where(mt[:, None], nxt, delta), jnp.where(mt[:, None], ptr, stay)

    delta, ptrs = lax.scan(step, delta0, (x[1:], m[1:]))
    last = jnp.argmax(delta + f[None, :], axis=-1).astype(jnp.int32)

    def back(y, ptr):
        prev = jnp.take_along_axis(ptr, y[:, None], axis=1)[:, 0]
        return prev, prev

    _, earlier = lax.scan(back, last, ptrs, reverse=True)
    return jnp.concatenate([earlier, last[None]], axis=0)


@jax.jit
def path_score(
    x: jax.Array, a: jax.Array, s: jax.Array, f: jax.Array, m: jax.Array, y: jax.Array
) -> jax.Array:
    """``s(y)`` ``[N]`` of in-range tags ``y`` ``[T, N]`` over each valid prefix."""
    unary = jnp.sum(jnp.take_along_axis(x, y[:, :, None], axis=-1)[..., 0], axis=0)
    binary = jnp.sum(jnp.where(m[1:], a[y[:-1], y[1:]], 0.0), axis=0)
    last = jnp.sum(m, axis=0) - 1
    y_last = jnp.take_along_axis(y, last[None, :], axis=0)[0]
    return s[y[0]] + unary + binary + f[y_last]


def counts(onehot: jax.Array) -> jax.Array:
    """Transition counts ``[K, K]`` of masked one-hot paths ``[T, N, K]`` (0 at padding)."""
    return jnp.einsum("tni,tnj->ij", onehot[:-1], onehot[1:])


@jax.jit
def expected_cost_grads(
    x: jax.Array,
    a: jax.Array,
    s: jax.Array,
    f: jax.Array,
    m: jax.Array,
    h: jax.Array,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    r"""Risk ``R = E[cost]`` ``[N]`` and its gradient, for a cost ``sum_t h[t, y_t]``.

    With features :math:`\phi` (step/tag and transition indicators), :math:`\nabla R =
    \operatorname{Cov}(\mathrm{cost}, \phi)`. Given :math:`y_t = k` the prefix and suffix are
    independent, so :math:`\mathbb{E}[\mathrm{cost} \mid y_t = k] = a_t[k] + b_t[k]` with the
    first-order expectation-semiring recursions

    * :math:`a_t[j] = h_t[j] + \sum_i p(y_{t-1} = i \mid y_t = j, \text{prefix})\, a_{t-1}[i]`,
    * :math:`b_t[i] = \sum_j p(y_{t+1} = j \mid y_t = i, \text{suffix}) (h_{t+1}[j] + b_{t+1}[j])`,

    whose conditionals are softmaxes of the forward and backward messages. Then
    :math:`\partial R / \partial E_{t,k} = p_t(k) (a_t[k] + b_t[k] - R)` and
    :math:`\partial R / \partial A_{ij} = \sum_t p_t(i, j) (a_{t-1}[i] + h_t[j] + b_t[j] - R)`.

    Returns ``(R [N], d/d emissions [T, N, K], d/d transitions [K, K])``.
    """
    alphas, _ = forward(x, a, s, f, m)
    betas = backward(x, a, f, m)
    node = jax.nn.softmax(alphas + betas, axis=-1) * m[:, :, None]
    t, n, k = x.shape

    def fwd(acc, inp):
        alpha_prev, ht, mt = inp
        cond = jax.nn.softmax(alpha_prev[:, :, None] + a[None], axis=1)  # p(i | j), [N, i, j]
        nxt = ht + jnp.einsum("nij,ni->nj", cond, acc)
        acc = jnp.where(mt[:, None], nxt, acc)
        return acc, acc

    _, rest = lax.scan(fwd, h[0], (alphas[:-1], h[1:], m[1:]))
    prefix = jnp.concatenate([h[0][None], rest], axis=0)  # a_t, [T, N, K]

    def bwd(acc, inp):
        xn, beta_next, hn, mn = inp
        cond = jax.nn.softmax(a[None] + (xn + beta_next)[:, None, :], axis=2)  # p(j | i)
        nxt = jnp.einsum("nij,nj->ni", cond, hn + acc)
        acc = jnp.where(mn[:, None], nxt, jnp.zeros_like(acc))
        return acc, acc

    zero = varying_like(jnp.zeros((n, k), x.dtype), x)
    _, rest = lax.scan(bwd, zero, (x[1:], betas[1:], h[1:], m[1:]), reverse=True)
    suffix = jnp.concatenate([rest, zero[None]], axis=0)  # b_t, [T, N, K]

    conditional = prefix + suffix
    risk = jnp.sum(node[0] * conditional[0], axis=-1)
    g_emissions = node * (conditional - risk[None, :, None])
    logits = alphas[:-1, :, :, None] + a[None, None] + (x[1:] + betas[1:])[:, :, None, :]
    pair = jax.nn.softmax(logits.reshape(t - 1, n, k * k), axis=-1).reshape(t - 1, n, k, k)
    pair = pair * m[1:, :, None, None]
    pair_cost = prefix[:-1, :, :, None] + (h[1:] + suffix[1:])[:, :, None, :]
    g_transitions = jnp.sum(pair * (pair_cost - risk[None, :, None, None]), axis=(0, 1))
    return risk, g_emissions, g_transitions


def grads_out(
    g_emissions: jax.Array, g_transitions: jax.Array, ch: Chain
) -> tuple[jax.Array, jax.Array]:
    return unflatten(g_emissions, ch).astype(ch.dtype), g_transitions.astype(ch.tdtype)


# --- parallel in time -------------------------------------------------------------------
#
# The forward recursion is a product of T - 1 matrices in the log semiring (logsumexp for
# +, + for x): with M_t[i, j] = A[i, j] + E[t, j] at a valid step t >= 1 (the identity, 0 on
# the diagonal and -inf off it, at a padded one), alpha_t = alpha_0 M_1 ... M_t and
# beta_t = M_{t+1} ... M_{T-1} end. The product is associative, so the prefixes and suffixes
# are computed by `lax.associative_scan` in O(log T) depth instead of T sequential steps, at
# the price of K-fold more work (matrix-matrix instead of vector-matrix products) and
# [T, N, K, K] memory instead of [T, N, K].


def resolve_method(method: str, ch: Chain, fn: str) -> str:
    """``"sequential"`` or ``"parallel"`` for the ``method`` argument of ``fn``.

    ``"auto"``: ``"parallel"`` on a non-CPU backend (:func:`jax.default_backend`) when
    ``T >= PARALLEL_MIN_STEPS`` and ``T * N * K * K <= PARALLEL_MAX_ENTRIES``, else
    ``"sequential"`` (:func:`jaxlosses._semiring.choose_method`). A chain of one step has
    nothing to scan and is always sequential.
    """
    t, n, k = ch.x.shape
    return choose_method(method, t, t * n * k * k, fn)


def _step_matrices(x: jax.Array, a: jax.Array, m: jax.Array) -> Product:
    """``M_t`` for ``t = 1 .. T-1``: ``A[i, j] + E[t, j]``, the identity at padded steps."""
    k = a.shape[0]
    eye = jnp.where(jnp.eye(k, dtype=bool), 0.0, -jnp.inf).astype(x.dtype)[None, None]
    mats = jnp.where(m[1:, :, None, None], a[None, None] + x[1:, :, None, :], eye)
    return shifted_matrix(mats)


def _tree_log_partition(
    x: jax.Array, a: jax.Array, s: jax.Array, f: jax.Array, m: jax.Array
) -> jax.Array:
    alpha0, c0 = _normalise(s[None, :] + x[0])
    if x.shape[0] == 1:
        return c0 + lse(alpha0 + f[None, :], axis=-1)
    prod, c = tree_product(_step_matrices(x, a, m))
    last = lse(alpha0[:, :, None] + prod, axis=1)
    return c0 + c + lse(last + f[None, :], axis=-1)


@jax.jit
def parallel_messages(
    x: jax.Array, a: jax.Array, s: jax.Array, f: jax.Array, m: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Shifted forward and backward messages ``[T, N, K]`` and ``log Z`` ``[N]``, in parallel.

    The same messages as :func:`forward` and :func:`backward` up to a per-step shift, from
    the prefix products ``M_1 ... M_t`` and suffix products ``M_{t+1} ... M_{T-1}``, both
    from one :func:`jax.lax.associative_scan` (over ``2 N`` chains).
    """
    t, n, k = x.shape
    alpha0, c0 = _normalise(s[None, :] + x[0])
    beta_last, _ = _normalise(varying_like(jnp.broadcast_to(f, (n, k)), x))
    if t == 1:
        return alpha0[None], beta_last[None], c0 + lse(alpha0 + f[None, :], axis=-1)
    mats, c = _step_matrices(x, a, m)
    # One scan for both directions: the suffix M_{t+1} ... M_{T-1} is the transpose of the
    # prefix product of the transposed matrices in reverse order, M_{T-1}^T ... M_{t+1}^T.
    backwards = jnp.swapaxes(mats[::-1], 2, 3), c[::-1]
    both = jnp.concatenate([mats, backwards[0]], axis=1), jnp.concatenate([c, backwards[1]], 1)
    products, c_products = lax.associative_scan(combine, both)
    prefix, reversed_suffix = products[:, :n], products[:, n:]
    alphas, c_alpha = _normalise(lse(alpha0[None, :, :, None] + prefix, axis=2))
    log_z = c0 + c_products[-1, :n] + c_alpha[-1] + lse(alphas[-1] + f[None, :], axis=-1)
    betas, _ = _normalise(lse(f[None, None, :, None] + reversed_suffix, axis=2))
    alphas = jnp.concatenate([alpha0[None], alphas], axis=0)
    betas = jnp.concatenate([betas[::-1], beta_last[None]], axis=0)
    return alphas, betas, log_z


@jax.custom_jvp
def _parallel_log_partition(
    x: jax.Array, a: jax.Array, s: jax.Array, f: jax.Array, m: jax.Array
) -> jax.Array:
    return _tree_log_partition(x, a, s, f, m)


@_parallel_log_partition.defjvp
def _parallel_log_partition_jvp(
    primals: tuple[jax.Array, ...], tangents: tuple[jax.Array, ...]
) -> tuple[jax.Array, jax.Array]:
    """``d log Z = <node, dE> + <pairwise, dA> + <node_0, d start> + <node_last, d end>``.

    The marginals come from the parallel forward-backward, so the derivative keeps the
    ``O(log T)`` depth and stores no per-combine residuals (autodiff through the scan's
    K-term loops would).
    """
    x, a, s, f, m = primals
    dx, da, ds, df, _ = tangents
    alphas, betas, log_z = parallel_messages(x, a, s, f, m)
    node, pair = _marginals(alphas, betas, x, a, m)
    last = jnp.sum(m, axis=0) - 1
    node_last = jnp.take_along_axis(node, last[None, :, None], axis=0)[0]
    d_log_z = (
        jnp.sum(node * dx, axis=(0, 2))
        + jnp.einsum("tnij,ij->n", pair, da)
        + node[0] @ ds
        + node_last @ df
    )
    return log_z, d_log_z


@functools.partial(jax.jit, static_argnames="method")
def log_partition(
    x: jax.Array, a: jax.Array, s: jax.Array, f: jax.Array, m: jax.Array, method: str
) -> jax.Array:
    """``log Z`` ``[N]`` by :func:`forward` or, for ``method="parallel"``, in parallel.

    The parallel value is a balanced tree of products (no prefixes needed); its derivative
    (forward or reverse mode) is the parallel forward-backward's marginals.
    """
    if method == "parallel":
        return _parallel_log_partition(x, a, s, f, m)
    return forward(x, a, s, f, m)[1]


# --- public helpers -----------------------------------------------------------------


def crf_marginals(
    emissions: ArrayLike,
    transitions: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    start_transitions: ArrayLike | None = None,
    end_transitions: ArrayLike | None = None,
    method: str = "auto",
) -> tuple[jax.Array, jax.Array]:
    r"""Node and pairwise marginals of a linear-chain CRF, by forward-backward.

    .. math::

        p_t(k) = \frac{\exp(\alpha_t(k) + \beta_t(k))}{Z}, \qquad
        p_t(i, j) = \frac{\exp(\alpha_{t-1}(i) + A_{ij} + E_{t,j} + \beta_t(j))}{Z}

    These are the gradient of :func:`crf_log_partition`:
    :math:`\partial \log Z / \partial E_{t,k} = p_t(k)` and
    :math:`\partial \log Z / \partial A_{ij} = \sum_t p_t(i, j)`.

    Args:
      emissions: ``[..., T, K]``.
      transitions: ``[K, K]``.
      mask: optional boolean ``[..., T]`` valid prefix (see :func:`crf_log_partition`).
      start_transitions: optional ``[K]``.
      end_transitions: optional ``[K]``.
      method: ``"sequential"`` (two :func:`jax.lax.scan` passes, depth ``T``),
        ``"parallel"`` (prefix and suffix products by :func:`jax.lax.associative_scan`,
        depth ``log T``) or ``"auto"``; see :func:`crf_log_partition`.

    Returns:
      ``(node, pairwise)``: node marginals ``[..., T, K]`` (each valid step sums to 1) and
      pairwise marginals ``[..., T-1, K, K]`` (index ``t - 1`` is the transition into step
      ``t``; each valid one sums to 1), both 0 at padded steps, dtype of ``emissions``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> node, pair = jl.crf_marginals(jnp.zeros((2, 2)), jnp.zeros((2, 2)))
      >>> node.tolist(), pair.tolist()
      ([[0.5, 0.5], [0.5, 0.5]], [[[0.25, 0.25], [0.25, 0.25]]])
    """
    fn = "crf_marginals"
    ch = chain(emissions, transitions, mask, start_transitions, end_transitions, fn)
    node, pair, _ = forward_backward(*ch.scores(), method=resolve_method(method, ch, fn))
    return unflatten(node, ch).astype(ch.dtype), unflatten(pair, ch).astype(ch.dtype)


def crf_decode(
    emissions: ArrayLike,
    transitions: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    start_transitions: ArrayLike | None = None,
    end_transitions: ArrayLike | None = None,
) -> tuple[jax.Array, jax.Array]:
    r"""Most likely tag sequence of a linear-chain CRF, by the Viterbi algorithm.

    .. math:: \hat y = \operatorname*{argmax}_y s(y)

    Args:
      emissions: ``[..., T, K]``.
      transitions: ``[K, K]``, ``transitions[i, j]`` scores tag ``i`` -> tag ``j``.
      mask: optional boolean ``[..., T]`` valid prefix (see :func:`crf_log_partition`).
      start_transitions: optional ``[K]``.
      end_transitions: optional ``[K]``.

    Returns:
      ``(tags, score)``: the best tags ``[..., T]`` int32, holding **-1 at padded steps**
      (never a plausible tag), and the best path score ``s(ŷ)`` ``[...]`` in the dtype of
      ``emissions``. Ties are broken towards the lower tag index. The tags carry no
      gradient; the score's gradient (with respect to emissions and transitions) is the
      one-hot of the best path and its transition counts.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> emissions, transitions = jnp.array([[1.0, 0.0], [0.0, 1.0]]), jnp.zeros((2, 2))
      >>> tags, score = jl.crf_decode(emissions, transitions)
      >>> tags.tolist(), float(score)
      ([0, 1], 2.0)
      >>> tags, score = jl.crf_decode(emissions, transitions, mask=jnp.array([True, False]))
      >>> tags.tolist(), float(score)
      ([0, -1], 1.0)

    References:
      Viterbi, `Error bounds for convolutional codes and an asymptotically optimum decoding
      algorithm <https://doi.org/10.1109/TIT.1967.1054010>`_, IEEE Trans. Inf. Theory 1967.
    """
    ch = chain(emissions, transitions, mask, start_transitions, end_transitions, "crf_decode")
    path = viterbi(*ch.scores())
    score = path_score(*ch.scores(), path)
    tags = jnp.where(ch.m, path, -1).astype(jnp.int32)
    return unflatten(tags, ch), per_sequence(score, ch)
