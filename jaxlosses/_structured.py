r"""Linear-chain CRF with exact inference, and structured losses over label sequences.

A tag sequence :math:`y` of a sequence whose valid prefix has length :math:`L` scores

.. math::

    s(y) = \mathrm{start}_{y_0} + \sum_{t=0}^{L-1} E_{t, y_t}
        + \sum_{t=1}^{L-1} A_{y_{t-1}, y_t} + \mathrm{end}_{y_{L-1}}

with emissions :math:`E` ``[..., T, K]``, transitions :math:`A` ``[K, K]`` (``A[i, j]``
scores tag ``i`` followed by tag ``j``) and optional start/end scores ``[K]``. The
forward algorithm (log space, :func:`jax.lax.scan`) gives the log-partition
:math:`\log Z = \log \sum_y \exp s(y)`, forward-backward gives the marginals and Viterbi
the best path. The structured losses follow one family over the output space,

.. math::

    \ell(y^\star) = -s(y^\star) + \operatorname*{agg}_y \big[s(y) + c\,\Delta(y^\star, y)\big]

with the Hamming cost :math:`\Delta` and ``agg`` a max (perceptron with :math:`c = 0`,
structured hinge) or a logsumexp (CRF with :math:`c = 0`, softmax-margin), plus the risk
:math:`\mathbb{E}_{p(y)}[c\,\Delta(y^\star, y)]`.

Numerics: the forward, backward and Viterbi recursions renormalise their message at every
step (subtracting its max and accumulating the shift), so messages stay within the spread of
one step's scores whatever the length, and marginals are softmaxes of locally normalised
messages. Values and gradients stay finite for ``T = 2048`` and ``|emission| = 1e4`` in float32.

Masks: ``mask`` ``[..., T]`` marks a valid prefix. The first step is always valid, and any
step after the first ``False`` is treated as padding too (the mask is made a prefix), so
variable-length sequences can share one padded batch. Emissions and tags at padded steps
are ignored (their gradient is exactly 0).

Each loss is followed by its closed-form gradient (``_<name>_grad``) of the *summed* loss
with respect to ``(emissions, transitions)``, derived by hand and re-exported as
:mod:`jaxlosses.closed_form`; none calls :func:`jax.grad`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike

from ._checks import crf_checks, register_checks
from ._core import compute_dtype, floating, integer
from ._primitives import _lse_of_shifted, _shift

__all__ = [
    "crf_decode",
    "crf_log_likelihood",
    "crf_log_partition",
    "crf_loss",
    "crf_marginals",
    "structured_hinge_loss",
    "structured_perceptron_loss",
    "structured_risk_loss",
    "structured_softmax_margin_loss",
]


# --- input handling -------------------------------------------------------------------


class _Chain(NamedTuple):
    """Validated inputs, time-major and flattened: ``T`` steps, ``N`` sequences, ``K`` tags."""

    dtype: np.dtype  # output dtype (the emissions')
    tdtype: np.dtype  # dtype of the transition gradient
    batch: tuple[int, ...]  # the emissions' batch shape
    x: jax.Array  # [T, N, K] emissions in the compute dtype, 0 at padded steps
    a: jax.Array  # [K, K]
    s: jax.Array  # [K] start scores (zeros when not given)
    f: jax.Array  # [K] end scores (zeros when not given)
    m: jax.Array  # [T, N] bool prefix mask


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


def _chain(
    emissions: ArrayLike,
    transitions: ArrayLike,
    mask: ArrayLike | None,
    start_transitions: ArrayLike | None,
    end_transitions: ArrayLike | None,
    fn: str,
) -> _Chain:
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
        try:
            mk = jnp.broadcast_to(mk, (*batch, t))
        except ValueError:
            raise ValueError(
                f"{fn}: `mask` has shape {mk.shape} but emissions of shape {arr.shape} need a "
                f"boolean mask of shape [..., T] = {(*batch, t)} (True on each sequence's "
                "valid prefix)."
            ) from None
        mk = mk.reshape(n, t).T
        # The first step is always valid; steps after the first invalid one are padding.
        mk = mk.at[0].set(True)
        m = jnp.cumsum(~mk, axis=0) == 0

    x = arr.astype(cdt).reshape(n, t, k).transpose(1, 0, 2)
    x = jnp.where(m[:, :, None], x, 0.0)
    zeros = jnp.zeros((k,), cdt)
    return _Chain(
        dtype=np.dtype(arr.dtype),
        tdtype=np.dtype(trans.dtype),
        batch=batch,
        x=x,
        a=trans.astype(cdt),
        s=zeros if start is None else start.astype(cdt),
        f=zeros if end is None else end.astype(cdt),
        m=m,
    )


def _gold(tags: ArrayLike, ch: _Chain, fn: str) -> tuple[jax.Array, jax.Array, jax.Array]:
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


def _unflatten(v: jax.Array, ch: _Chain) -> jax.Array:
    """``[T, N, ...]`` time-major back to ``[..., T, ...]`` with the emissions' batch shape."""
    v = jnp.moveaxis(v, 0, 1)
    return v.reshape(*ch.batch, *v.shape[1:])


def _per_sequence(v: jax.Array, ch: _Chain) -> jax.Array:
    return v.reshape(ch.batch).astype(ch.dtype)


def _cost_weight(cost_weight: ArrayLike, ch: _Chain, fn: str) -> jax.Array:
    """The Hamming cost weight as ``[N]`` (a scalar or one weight per sequence)."""
    c = jnp.asarray(cost_weight)
    try:
        c = jnp.broadcast_to(c, ch.batch)
    except ValueError:
        raise ValueError(
            f"{fn}: `cost_weight` has shape {c.shape}; pass a scalar or one weight per "
            f"sequence, shape {ch.batch}."
        ) from None
    return c.astype(ch.x.dtype).reshape(-1)


def _cost_augmented(ch: _Chain, onehot: jax.Array, c: jax.Array) -> jax.Array:
    """Emissions plus ``c`` at every valid (step, tag) that differs from the gold tag."""
    return ch.x + c[None, :, None] * (ch.m[:, :, None] - onehot)


# --- inference ------------------------------------------------------------------------


def _normalise(v: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``v - max_k v`` over the last axis and the (gradient-free) shift ``[N]``."""
    shifted, c = _shift(v, (v.ndim - 1,), None)
    return shifted, c[..., 0]


def _lse(v: jax.Array, axis: int) -> jax.Array:
    """Stable ``logsumexp`` over one axis; ``-inf`` (with a finite gradient) if all ``-inf``."""
    shifted, c = _shift(v, (axis,), None)
    return jnp.squeeze(_lse_of_shifted(shifted, (axis,)) + c, axis)


@jax.jit
def _forward(
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
        nxt, c = _normalise(_lse(alpha[:, :, None] + a[None], axis=1) + xt)
        alpha = jnp.where(mt[:, None], nxt, alpha)
        logc = jnp.where(mt, logc + c, logc)
        return (alpha, logc), alpha

    (last, logc), rest = lax.scan(step, (alpha0, logc0), (x[1:], m[1:]))
    alphas = jnp.concatenate([alpha0[None], rest], axis=0)
    return alphas, logc + _lse(last + f[None, :], axis=-1)


@jax.jit
def _backward(x: jax.Array, a: jax.Array, f: jax.Array, m: jax.Array) -> jax.Array:
    """Backward algorithm; normalised messages ``[T, N, K]`` (``end`` from the last valid step)."""
    _, n, k = x.shape
    beta_last, _ = _normalise(jnp.broadcast_to(f, (n, k)))

    def step(beta, inp):
        xn, mn = inp  # emissions and mask of the *next* step
        nxt, _ = _normalise(_lse(a[None] + (xn + beta)[:, None, :], axis=2))
        beta = jnp.where(mn[:, None], nxt, beta)
        return beta, beta

    _, rest = lax.scan(step, beta_last, (x[1:], m[1:]), reverse=True)
    return jnp.concatenate([rest, beta_last[None]], axis=0)


@jax.jit
def _marginals(
    x: jax.Array, a: jax.Array, s: jax.Array, f: jax.Array, m: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Forward-backward: node ``[T, N, K]``, pairwise ``[T-1, N, K, K]`` and ``log Z`` ``[N]``.

    Both marginals are 0 at padded steps (the pairwise one at index ``t - 1`` is the
    transition into step ``t``).
    """
    alphas, log_z = _forward(x, a, s, f, m)
    betas = _backward(x, a, f, m)
    node = jax.nn.softmax(alphas + betas, axis=-1) * m[:, :, None]
    t, n, k = x.shape
    logits = alphas[:-1, :, :, None] + a[None, None] + (x[1:] + betas[1:])[:, :, None, :]
    pair = jax.nn.softmax(logits.reshape(t - 1, n, k * k), axis=-1).reshape(t - 1, n, k, k)
    return node, pair * m[1:, :, None, None], log_z


@jax.jit
def _viterbi(x: jax.Array, a: jax.Array, s: jax.Array, f: jax.Array, m: jax.Array) -> jax.Array:
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
def _path_score(
    x: jax.Array, a: jax.Array, s: jax.Array, f: jax.Array, m: jax.Array, y: jax.Array
) -> jax.Array:
    """``s(y)`` ``[N]`` of in-range tags ``y`` ``[T, N]`` over each valid prefix."""
    unary = jnp.sum(jnp.take_along_axis(x, y[:, :, None], axis=-1)[..., 0], axis=0)
    binary = jnp.sum(jnp.where(m[1:], a[y[:-1], y[1:]], 0.0), axis=0)
    last = jnp.sum(m, axis=0) - 1
    y_last = jnp.take_along_axis(y, last[None, :], axis=0)[0]
    return s[y[0]] + unary + binary + f[y_last]


def _counts(onehot: jax.Array) -> jax.Array:
    """Transition counts ``[K, K]`` of masked one-hot paths ``[T, N, K]`` (0 at padding)."""
    return jnp.einsum("tni,tnj->ij", onehot[:-1], onehot[1:])


@jax.jit
def _expected_cost_grads(
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
    alphas, _ = _forward(x, a, s, f, m)
    betas = _backward(x, a, f, m)
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

    zero = jnp.zeros((n, k), x.dtype)
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


def _grads_out(
    g_emissions: jax.Array, g_transitions: jax.Array, ch: _Chain
) -> tuple[jax.Array, jax.Array]:
    return _unflatten(g_emissions, ch).astype(ch.dtype), g_transitions.astype(ch.tdtype)


# --- log-partition, likelihood and marginals ------------------------------------------


def crf_log_partition(
    emissions: ArrayLike,
    transitions: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    start_transitions: ArrayLike | None = None,
    end_transitions: ArrayLike | None = None,
) -> jax.Array:
    r"""Log-partition function of a linear-chain CRF, by the forward algorithm.

    .. math:: \log Z = \log \sum_{y \in [K]^L} \exp s(y)

    with :math:`s(y)` the path score of the module docstring (emissions, transitions,
    start and end scores over the valid prefix of length :math:`L`).

    Args:
      emissions: per-step tag scores ``[..., T, K]``.
      transitions: ``[K, K]``; ``transitions[i, j]`` scores tag ``i`` followed by tag ``j``.
        ``-inf`` forbids a transition (some path must stay possible).
      mask: optional boolean ``[..., T]``, True on each sequence's valid prefix; the first
        step is always valid. Padded steps do not contribute.
      start_transitions: optional ``[K]`` scores of the first tag.
      end_transitions: optional ``[K]`` scores of the last valid tag.

    Returns:
      ``log Z`` per sequence, shape ``emissions.shape[:-2]``, dtype of ``emissions``. Its
      gradient is given by :func:`crf_marginals` (node marginals for the emissions, summed
      pairwise marginals for the transitions).

    Example:
      >>> import jaxlosses as jl
      >>> # 2 steps, 2 tags, all scores 0: log(2 ** 2) = 1.3863
      >>> round(float(jl.crf_log_partition(jnp.zeros((2, 2)), jnp.zeros((2, 2)))), 4)
      1.3863

    References:
      Lafferty, McCallum and Pereira, Conditional Random Fields: Probabilistic Models for
      Segmenting and Labeling Sequence Data, ICML 2001.
      Rabiner, `A tutorial on hidden Markov models
      <https://doi.org/10.1109/5.18626>`_, Proc. IEEE 1989.
    """
    ch = _chain(
        emissions, transitions, mask, start_transitions, end_transitions, "crf_log_partition"
    )
    _, log_z = _forward(ch.x, ch.a, ch.s, ch.f, ch.m)
    return _per_sequence(log_z, ch)


def _crf_log_partition_grad(
    emissions: ArrayLike,
    transitions: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    start_transitions: ArrayLike | None = None,
    end_transitions: ArrayLike | None = None,
) -> tuple[jax.Array, jax.Array]:
    """``(node marginals, pairwise marginals summed over sequences and steps)``."""
    ch = _chain(
        emissions, transitions, mask, start_transitions, end_transitions, "crf_log_partition"
    )
    node, pair, _ = _marginals(ch.x, ch.a, ch.s, ch.f, ch.m)
    return _grads_out(node, jnp.sum(pair, axis=(0, 1)), ch)


def crf_marginals(
    emissions: ArrayLike,
    transitions: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    start_transitions: ArrayLike | None = None,
    end_transitions: ArrayLike | None = None,
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

    Returns:
      ``(node, pairwise)``: node marginals ``[..., T, K]`` (each valid step sums to 1) and
      pairwise marginals ``[..., T-1, K, K]`` (index ``t - 1`` is the transition into step
      ``t``; each valid one sums to 1), both 0 at padded steps, dtype of ``emissions``.

    Example:
      >>> import jaxlosses as jl
      >>> node, pair = jl.crf_marginals(jnp.zeros((2, 2)), jnp.zeros((2, 2)))
      >>> node.tolist(), pair.tolist()
      ([[0.5, 0.5], [0.5, 0.5]], [[[0.25, 0.25], [0.25, 0.25]]])
    """
    ch = _chain(emissions, transitions, mask, start_transitions, end_transitions, "crf_marginals")
    node, pair, _ = _marginals(ch.x, ch.a, ch.s, ch.f, ch.m)
    return _unflatten(node, ch).astype(ch.dtype), _unflatten(pair, ch).astype(ch.dtype)


def crf_log_likelihood(
    emissions: ArrayLike,
    tags: ArrayLike,
    transitions: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    start_transitions: ArrayLike | None = None,
    end_transitions: ArrayLike | None = None,
) -> jax.Array:
    r"""Log-likelihood of gold tag sequences under a linear-chain CRF.

    .. math:: \log p(y^\star) = s(y^\star) - \log Z

    Unchecked, a tag outside ``[0, K)`` (``tags`` is not range-checked, for speed)
    gives a NaN loss for its example; the other examples and the gradients stay
    finite. ``jaxlosses.checked(crf_log_likelihood)`` raises instead.

    Args:
      emissions: ``[..., T, K]``.
      tags: gold integer tags ``[..., T]``; values at padded steps are ignored.
      transitions: ``[K, K]``, ``transitions[i, j]`` scores tag ``i`` -> tag ``j``.
      mask: optional boolean ``[..., T]`` valid prefix (see :func:`crf_log_partition`).
      start_transitions: optional ``[K]``.
      end_transitions: optional ``[K]``.

    Returns:
      Per-sequence log-likelihood, shape ``emissions.shape[:-2]``, dtype of ``emissions``.
      Unchecked behaviour: a tag outside ``[0, K)`` at a valid step gives NaN for that
      sequence (and a zero gradient).

    Example:
      >>> import jaxlosses as jl
      >>> # all 4 paths score 0, so each has probability 1/4: log(1/4) = -1.3863
      >>> ll = jl.crf_log_likelihood(jnp.zeros((2, 2)), jnp.array([0, 1]), jnp.zeros((2, 2)))
      >>> round(float(ll), 4)
      -1.3863

    References:
      Lafferty, McCallum and Pereira, Conditional Random Fields: Probabilistic Models for
      Segmenting and Labeling Sequence Data, ICML 2001.
    """
    fn = "crf_log_likelihood"
    ch = _chain(emissions, transitions, mask, start_transitions, end_transitions, fn)
    g, _, ok = _gold(tags, ch, fn)
    _, log_z = _forward(ch.x, ch.a, ch.s, ch.f, ch.m)
    ll = _path_score(ch.x, ch.a, ch.s, ch.f, ch.m, g) - log_z
    return _per_sequence(jnp.where(ok, ll, jnp.nan), ch)


def _crf_log_likelihood_grad(
    emissions: ArrayLike,
    tags: ArrayLike,
    transitions: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    start_transitions: ArrayLike | None = None,
    end_transitions: ArrayLike | None = None,
) -> tuple[jax.Array, jax.Array]:
    """``(one-hot gold - node marginals, observed - expected transition counts)``."""
    ch, g_e, g_a = _nll_grad(
        emissions,
        tags,
        transitions,
        mask,
        start_transitions,
        end_transitions,
        "crf_log_likelihood",
    )
    return _grads_out(-g_e, -g_a, ch)


def crf_loss(
    emissions: ArrayLike,
    tags: ArrayLike,
    transitions: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    start_transitions: ArrayLike | None = None,
    end_transitions: ArrayLike | None = None,
) -> jax.Array:
    r"""Negative log-likelihood of a linear-chain CRF (the per-sequence CRF loss).

    .. math:: \ell(E, y^\star) = \log Z - s(y^\star)
        = -s(y^\star) + \log \sum_y \exp s(y)

    The sequence analogue of softmax cross-entropy with integer labels; as
    ``torchcrf.CRF(...)(emissions, tags, mask, reduction='none')`` negated, with
    ``batch_first=True``.

    Unchecked, a tag outside ``[0, K)`` (``tags`` is not range-checked, for speed)
    gives a NaN loss for its example; the other examples and the gradients stay
    finite. ``jaxlosses.checked(crf_loss)`` raises instead.

    Args:
      emissions: ``[..., T, K]``.
      tags: gold integer tags ``[..., T]``; values at padded steps are ignored.
      transitions: ``[K, K]``, ``transitions[i, j]`` scores tag ``i`` -> tag ``j``.
      mask: optional boolean ``[..., T]`` valid prefix (see :func:`crf_log_partition`).
      start_transitions: optional ``[K]``.
      end_transitions: optional ``[K]``.

    Returns:
      Per-sequence loss, shape ``emissions.shape[:-2]``, dtype of ``emissions``; NaN for a
      sequence with a tag outside ``[0, K)`` at a valid step. The closed-form gradient is
      ``(node marginals - one-hot tags, expected - observed transition counts)``.

    Example:
      >>> import jaxlosses as jl
      >>> emissions = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> # paths 00, 01, 10, 11 score 1, 2, 0, 1; gold [0, 1]: log(e + e^2 + 1 + e) - 2
      >>> round(float(jl.crf_loss(emissions, jnp.array([0, 1]), jnp.zeros((2, 2)))), 4)
      0.6265

    References:
      Lafferty, McCallum and Pereira, Conditional Random Fields: Probabilistic Models for
      Segmenting and Labeling Sequence Data, ICML 2001.
    """
    fn = "crf_loss"
    ch = _chain(emissions, transitions, mask, start_transitions, end_transitions, fn)
    g, _, ok = _gold(tags, ch, fn)
    _, log_z = _forward(ch.x, ch.a, ch.s, ch.f, ch.m)
    loss = log_z - _path_score(ch.x, ch.a, ch.s, ch.f, ch.m, g)
    return _per_sequence(jnp.where(ok, loss, jnp.nan), ch)


def _crf_loss_grad(
    emissions: ArrayLike,
    tags: ArrayLike,
    transitions: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    start_transitions: ArrayLike | None = None,
    end_transitions: ArrayLike | None = None,
) -> tuple[jax.Array, jax.Array]:
    """``(node marginals - one-hot tags, expected - observed transition counts)``.

    Sequences with an out-of-range tag get a zero gradient.
    """
    ch, g_e, g_a = _nll_grad(
        emissions, tags, transitions, mask, start_transitions, end_transitions, "crf_loss"
    )
    return _grads_out(g_e, g_a, ch)


def _nll_grad(
    emissions: ArrayLike,
    tags: ArrayLike,
    transitions: ArrayLike,
    mask: ArrayLike | None,
    start_transitions: ArrayLike | None,
    end_transitions: ArrayLike | None,
    fn: str,
) -> tuple[_Chain, jax.Array, jax.Array]:
    """``(chain, node - one-hot [T, N, K], expected - observed counts [K, K])``, time-major."""
    ch = _chain(emissions, transitions, mask, start_transitions, end_transitions, fn)
    _, onehot, ok = _gold(tags, ch, fn)
    node, pair, _ = _marginals(ch.x, ch.a, ch.s, ch.f, ch.m)
    w = ok.astype(ch.x.dtype)
    g_e = (node - onehot) * w[None, :, None]
    return ch, g_e, jnp.einsum("tnij,n->ij", pair, w) - _counts(onehot * w[None, :, None])


# --- Viterbi ---------------------------------------------------------------------------


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
    ch = _chain(emissions, transitions, mask, start_transitions, end_transitions, "crf_decode")
    path = _viterbi(ch.x, ch.a, ch.s, ch.f, ch.m)
    score = _path_score(ch.x, ch.a, ch.s, ch.f, ch.m, path)
    tags = jnp.where(ch.m, path, -1).astype(jnp.int32)
    return _unflatten(tags, ch), _per_sequence(score, ch)


# --- structured losses -----------------------------------------------------------------


def _max_margin(
    emissions: ArrayLike,
    tags: ArrayLike,
    transitions: ArrayLike,
    mask: ArrayLike | None,
    start_transitions: ArrayLike | None,
    end_transitions: ArrayLike | None,
    cost_weight: ArrayLike,
    fn: str,
) -> tuple[_Chain, jax.Array, jax.Array, jax.Array, jax.Array]:
    """Shared by the max-based losses: ``(chain, gold, gold one-hot, ok, best path)``.

    The best path maximises ``s(y) + c * Hamming(gold, y)`` (``c = 0``: plain Viterbi).
    """
    ch = _chain(emissions, transitions, mask, start_transitions, end_transitions, fn)
    g, onehot, ok = _gold(tags, ch, fn)
    c = _cost_weight(cost_weight, ch, fn)
    path = _viterbi(_cost_augmented(ch, onehot, c), ch.a, ch.s, ch.f, ch.m)
    return ch, g, onehot, ok, path


def _max_margin_grad(
    ch: _Chain, onehot: jax.Array, ok: jax.Array, path: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """``(one-hot best path - one-hot gold, their transition count difference)``."""
    w = ok.astype(ch.x.dtype)[None, :, None]
    k = ch.x.shape[-1]
    diff = (jax.nn.one_hot(path, k, dtype=ch.x.dtype) * ch.m[:, :, None] - onehot) * w
    best = jax.nn.one_hot(path, k, dtype=ch.x.dtype) * ch.m[:, :, None] * w
    return _grads_out(diff, _counts(best) - _counts(onehot * w), ch)


def structured_perceptron_loss(
    emissions: ArrayLike,
    tags: ArrayLike,
    transitions: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    start_transitions: ArrayLike | None = None,
    end_transitions: ArrayLike | None = None,
) -> jax.Array:
    r"""Structured perceptron loss: best path score minus gold path score.

    .. math:: \ell(E, y^\star) = \max_y s(y) - s(y^\star)

    Zero exactly when the gold sequence is a Viterbi path; its subgradient is the
    perceptron update (features of the Viterbi path minus features of the gold path).

    Unchecked, a tag outside ``[0, K)`` (``tags`` is not range-checked, for speed)
    gives a NaN loss for its example; the other examples and the gradients stay
    finite. ``jaxlosses.checked(structured_perceptron_loss)`` raises instead.

    Args:
      emissions: ``[..., T, K]``.
      tags: gold integer tags ``[..., T]``; values at padded steps are ignored.
      transitions: ``[K, K]``, ``transitions[i, j]`` scores tag ``i`` -> tag ``j``.
      mask: optional boolean ``[..., T]`` valid prefix (see :func:`crf_log_partition`).
      start_transitions: optional ``[K]``.
      end_transitions: optional ``[K]``.

    Returns:
      Per-sequence loss ``>= 0``, shape ``emissions.shape[:-2]``, dtype of ``emissions``;
      NaN for a sequence with a tag outside ``[0, K)`` at a valid step.

    Example:
      >>> import jaxlosses as jl
      >>> emissions = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> # best path [0, 1] scores 2, gold [0, 0] scores 1
      >>> float(jl.structured_perceptron_loss(emissions, jnp.array([0, 0]), jnp.zeros((2, 2))))
      1.0

    References:
      Collins, `Discriminative training methods for hidden Markov models
      <https://aclanthology.org/W02-1001/>`_, EMNLP 2002.
    """
    ch, g, _, ok, path = _max_margin(
        emissions,
        tags,
        transitions,
        mask,
        start_transitions,
        end_transitions,
        0.0,
        "structured_perceptron_loss",
    )
    loss = _path_score(ch.x, ch.a, ch.s, ch.f, ch.m, path) - _path_score(
        ch.x, ch.a, ch.s, ch.f, ch.m, g
    )
    return _per_sequence(jnp.where(ok, loss, jnp.nan), ch)


def _structured_perceptron_loss_grad(
    emissions: ArrayLike,
    tags: ArrayLike,
    transitions: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    start_transitions: ArrayLike | None = None,
    end_transitions: ArrayLike | None = None,
) -> tuple[jax.Array, jax.Array]:
    """``(one-hot Viterbi path - one-hot gold, Viterbi - gold transition counts)``."""
    ch, _, onehot, ok, path = _max_margin(
        emissions,
        tags,
        transitions,
        mask,
        start_transitions,
        end_transitions,
        0.0,
        "structured_perceptron_loss",
    )
    return _max_margin_grad(ch, onehot, ok, path)


def structured_hinge_loss(
    emissions: ArrayLike,
    tags: ArrayLike,
    transitions: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    start_transitions: ArrayLike | None = None,
    end_transitions: ArrayLike | None = None,
    cost_weight: ArrayLike = 1.0,
) -> jax.Array:
    r"""Structured hinge (max-margin) loss with Hamming cost, by loss-augmented Viterbi.

    .. math:: \ell(E, y^\star) = \max_y \big[s(y) + c\,\Delta(y^\star, y)\big] - s(y^\star),
        \qquad \Delta(y^\star, y) = \sum_{t < L} [y_t \neq y^\star_t]

    The Hamming cost decomposes over steps, so the max is a Viterbi pass over the emissions
    plus ``c`` on every non-gold tag. ``cost_weight=0`` gives
    :func:`structured_perceptron_loss`.

    Unchecked, a tag outside ``[0, K)`` (``tags`` is not range-checked, for speed)
    gives a NaN loss for its example; the other examples and the gradients stay
    finite. ``jaxlosses.checked(structured_hinge_loss)`` raises instead.

    Args:
      emissions: ``[..., T, K]``.
      tags: gold integer tags ``[..., T]``; values at padded steps are ignored.
      transitions: ``[K, K]``, ``transitions[i, j]`` scores tag ``i`` -> tag ``j``.
      mask: optional boolean ``[..., T]`` valid prefix (see :func:`crf_log_partition`).
      start_transitions: optional ``[K]``.
      end_transitions: optional ``[K]``.
      cost_weight: ``c``, the cost of one wrong tag: a scalar or one per sequence ``[...]``.

    Returns:
      Per-sequence loss ``>= 0``, shape ``emissions.shape[:-2]``, dtype of ``emissions``;
      NaN for a sequence with a tag outside ``[0, K)`` at a valid step.

    Example:
      >>> import jaxlosses as jl
      >>> emissions = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> # paths [0, 1] and [1, 1]: score + wrong tags = 3; gold [0, 0] scores 1
      >>> float(jl.structured_hinge_loss(emissions, jnp.array([0, 0]), jnp.zeros((2, 2))))
      2.0

    References:
      Taskar, Guestrin and Koller, Max-margin Markov networks, NeurIPS 2003.
      Tsochantaridis, Joachims, Hofmann and Altun, `Large margin methods for structured and
      interdependent output variables <https://www.jmlr.org/papers/v6/tsochantaridis05a.html>`_,
      JMLR 2005.
    """
    ch, g, onehot, ok, path = _max_margin(
        emissions,
        tags,
        transitions,
        mask,
        start_transitions,
        end_transitions,
        cost_weight,
        "structured_hinge_loss",
    )
    c = _cost_weight(cost_weight, ch, "structured_hinge_loss")
    augmented = _cost_augmented(ch, onehot, c)
    loss = _path_score(augmented, ch.a, ch.s, ch.f, ch.m, path) - _path_score(
        ch.x, ch.a, ch.s, ch.f, ch.m, g
    )
    return _per_sequence(jnp.where(ok, loss, jnp.nan), ch)


def _structured_hinge_loss_grad(
    emissions: ArrayLike,
    tags: ArrayLike,
    transitions: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    start_transitions: ArrayLike | None = None,
    end_transitions: ArrayLike | None = None,
    cost_weight: ArrayLike = 1.0,
) -> tuple[jax.Array, jax.Array]:
    """``(one-hot loss-augmented path - one-hot gold, their transition count difference)``."""
    ch, _, onehot, ok, path = _max_margin(
        emissions,
        tags,
        transitions,
        mask,
        start_transitions,
        end_transitions,
        cost_weight,
        "structured_hinge_loss",
    )
    return _max_margin_grad(ch, onehot, ok, path)


def structured_softmax_margin_loss(
    emissions: ArrayLike,
    tags: ArrayLike,
    transitions: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    start_transitions: ArrayLike | None = None,
    end_transitions: ArrayLike | None = None,
    cost_weight: ArrayLike = 1.0,
) -> jax.Array:
    r"""Softmax-margin loss with Hamming cost, by the cost-augmented forward algorithm.

    .. math:: \ell(E, y^\star) = \log \sum_y \exp\big[s(y) + c\,\Delta(y^\star, y)\big]
        - s(y^\star)

    A smooth upper bound of :func:`structured_hinge_loss`; ``cost_weight=0`` gives
    :func:`crf_loss`. Its gradient is the marginals of the cost-augmented CRF minus the gold
    features.

    Unchecked, a tag outside ``[0, K)`` (``tags`` is not range-checked, for speed)
    gives a NaN loss for its example; the other examples and the gradients stay
    finite. ``jaxlosses.checked(structured_softmax_margin_loss)`` raises instead.

    Args:
      emissions: ``[..., T, K]``.
      tags: gold integer tags ``[..., T]``; values at padded steps are ignored.
      transitions: ``[K, K]``, ``transitions[i, j]`` scores tag ``i`` -> tag ``j``.
      mask: optional boolean ``[..., T]`` valid prefix (see :func:`crf_log_partition`).
      start_transitions: optional ``[K]``.
      end_transitions: optional ``[K]``.
      cost_weight: ``c``, the cost of one wrong tag: a scalar or one per sequence ``[...]``.

    Returns:
      Per-sequence loss, shape ``emissions.shape[:-2]``, dtype of ``emissions``; NaN for a
      sequence with a tag outside ``[0, K)`` at a valid step.

    Example:
      >>> import jaxlosses as jl
      >>> emissions = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> # paths 00, 01, 10, 11: score + wrong tags = 1, 3, 1, 3; gold [0, 0] scores 1
      >>> loss = jl.structured_softmax_margin_loss(emissions, jnp.array([0, 0]), jnp.zeros((2, 2)))
      >>> round(float(loss), 4)  # log(2e + 2e^3) - 1
      2.8201

    References:
      Gimpel and Smith, `Softmax-margin CRFs: training log-linear models with cost functions
      <https://aclanthology.org/N10-1112/>`_, NAACL 2010.
    """
    fn = "structured_softmax_margin_loss"
    ch = _chain(emissions, transitions, mask, start_transitions, end_transitions, fn)
    g, onehot, ok = _gold(tags, ch, fn)
    augmented = _cost_augmented(ch, onehot, _cost_weight(cost_weight, ch, fn))
    _, log_z = _forward(augmented, ch.a, ch.s, ch.f, ch.m)
    loss = log_z - _path_score(ch.x, ch.a, ch.s, ch.f, ch.m, g)
    return _per_sequence(jnp.where(ok, loss, jnp.nan), ch)


def _structured_softmax_margin_loss_grad(
    emissions: ArrayLike,
    tags: ArrayLike,
    transitions: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    start_transitions: ArrayLike | None = None,
    end_transitions: ArrayLike | None = None,
    cost_weight: ArrayLike = 1.0,
) -> tuple[jax.Array, jax.Array]:
    """Cost-augmented ``(node marginals - one-hot gold, expected - observed counts)``."""
    fn = "structured_softmax_margin_loss"
    ch = _chain(emissions, transitions, mask, start_transitions, end_transitions, fn)
    _, onehot, ok = _gold(tags, ch, fn)
    augmented = _cost_augmented(ch, onehot, _cost_weight(cost_weight, ch, fn))
    node, pair, _ = _marginals(augmented, ch.a, ch.s, ch.f, ch.m)
    w = ok.astype(ch.x.dtype)
    g_e = (node - onehot) * w[None, :, None]
    g_a = jnp.einsum("tnij,n->ij", pair, w) - _counts(onehot * w[None, :, None])
    return _grads_out(g_e, g_a, ch)


def structured_risk_loss(
    emissions: ArrayLike,
    tags: ArrayLike,
    transitions: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    start_transitions: ArrayLike | None = None,
    end_transitions: ArrayLike | None = None,
    cost_weight: ArrayLike = 1.0,
) -> jax.Array:
    r"""Risk: the expected Hamming cost under the CRF distribution, from the node marginals.

    .. math:: \ell(E, y^\star) = \mathbb{E}_{p(y)}\big[c\,\Delta(y^\star, y)\big]
        = c \sum_{t < L} \big(1 - p_t(y^\star_t)\big)

    Bounded in ``[0, c L]`` and non-convex; its gradient is the covariance of the cost with
    the features, :math:`\operatorname{Cov}_p(c\,\Delta, \phi)`, computed in closed form by a
    first-order expectation-semiring forward-backward pass.

    Unchecked, a tag outside ``[0, K)`` (``tags`` is not range-checked, for speed)
    gives a NaN loss for its example; the other examples and the gradients stay
    finite. ``jaxlosses.checked(structured_risk_loss)`` raises instead.

    Args:
      emissions: ``[..., T, K]``.
      tags: gold integer tags ``[..., T]``; values at padded steps are ignored.
      transitions: ``[K, K]``, ``transitions[i, j]`` scores tag ``i`` -> tag ``j``.
      mask: optional boolean ``[..., T]`` valid prefix (see :func:`crf_log_partition`).
      start_transitions: optional ``[K]``.
      end_transitions: optional ``[K]``.
      cost_weight: ``c``, the cost of one wrong tag: a scalar or one per sequence ``[...]``.

    Returns:
      Per-sequence expected cost, shape ``emissions.shape[:-2]``, dtype of ``emissions``;
      NaN for a sequence with a tag outside ``[0, K)`` at a valid step.

    Example:
      >>> import jaxlosses as jl
      >>> # uniform over 2 tags: each of the 2 steps is wrong with probability 1/2
      >>> float(jl.structured_risk_loss(jnp.zeros((2, 2)), jnp.array([0, 1]), jnp.zeros((2, 2))))
      1.0

    References:
      Smith and Eisner, `Minimum risk annealing for training log-linear models
      <https://aclanthology.org/P06-2101/>`_, COLING/ACL 2006.
      Li and Eisner, `First- and second-order expectation semirings with applications to
      minimum-risk training on translation forests <https://aclanthology.org/D09-1005/>`_,
      EMNLP 2009.
    """
    fn = "structured_risk_loss"
    ch = _chain(emissions, transitions, mask, start_transitions, end_transitions, fn)
    _, onehot, ok = _gold(tags, ch, fn)
    c = _cost_weight(cost_weight, ch, fn)
    node, _, _ = _marginals(ch.x, ch.a, ch.s, ch.f, ch.m)
    wrong = jnp.sum(ch.m, axis=0) - jnp.sum(node * onehot, axis=(0, 2))
    return _per_sequence(jnp.where(ok, c * wrong, jnp.nan), ch)


def _structured_risk_loss_grad(
    emissions: ArrayLike,
    tags: ArrayLike,
    transitions: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    start_transitions: ArrayLike | None = None,
    end_transitions: ArrayLike | None = None,
    cost_weight: ArrayLike = 1.0,
) -> tuple[jax.Array, jax.Array]:
    """``Cov_p(cost, features)`` by the expectation-semiring recursions above."""
    fn = "structured_risk_loss"
    ch = _chain(emissions, transitions, mask, start_transitions, end_transitions, fn)
    _, onehot, ok = _gold(tags, ch, fn)
    w = ok.astype(ch.x.dtype)
    c = _cost_weight(cost_weight, ch, fn) * w
    h = c[None, :, None] * (ch.m[:, :, None] - onehot)
    _, g_e, g_a = _expected_cost_grads(ch.x, ch.a, ch.s, ch.f, ch.m, h)
    return _grads_out(g_e, g_a, ch)


# --- run-time value checks (jaxlosses.checked) ---------------------------------------

register_checks(crf_log_partition, *crf_checks(tags=False))
register_checks(crf_log_likelihood, *crf_checks())
register_checks(crf_loss, *crf_checks())
register_checks(structured_perceptron_loss, *crf_checks())
register_checks(structured_hinge_loss, *crf_checks())
register_checks(structured_softmax_margin_loss, *crf_checks())
register_checks(structured_risk_loss, *crf_checks())
