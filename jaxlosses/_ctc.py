"""Connectionist temporal classification (CTC): alignment-free sequence NLL.

The loss is the forward algorithm in log space over the blank-augmented label
sequence; its closed-form gradient (``_ctc_loss_grad``) is
``softmax(logits) - gamma`` where ``gamma[t, k]`` is the posterior probability that
frame ``t`` emits class ``k`` (the CTC occupation probabilities), computed by a
second, backward pass (forward-backward), never by :func:`jax.grad`.

States, as in optax: ``phi[n]`` (``n = 0..N``) is "``n`` labels emitted, now on a
blank" and ``emit[n]`` (``n = 0..N-1``) is "now emitting label ``n``". The
transitions are ``phi[n] -> phi[n]``, ``phi[n] -> emit[n]``, ``emit[n] -> emit[n]``,
``emit[n] -> phi[n + 1]`` and ``emit[n] -> emit[n + 1]`` unless the two labels are
equal. ``log_epsilon`` stands for ``log 0`` (initial and forbidden states), exactly
as in :func:`optax.losses.ctc_loss`, so values and gradients stay finite.
"""

from __future__ import annotations

import functools
import math
import operator
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike

from ._checks import (
    Bound,
    Check,
    Predicate,
    in_set,
    labels_in_range,
    padded_labels,
    register_checks,
)
from ._core import closed_form_of, floating, integer, is_array, real, upcast
from ._coupling import varying_like
from ._primitives import log_softmax_parts
from ._semiring import (
    choose_method,
    combine,
    log_vecmat,
    lse,
    shifted_matrix,
    tree_product,
)

__all__ = ["ctc_loss", "ctc_loss_with_forward_probs"]


def _ctc_inputs(
    logits: ArrayLike,
    logit_paddings: ArrayLike,
    labels: ArrayLike,
    label_paddings: ArrayLike,
    blank_id: int,
    log_epsilon: ArrayLike,
    fn: str,
    zero_infinity: bool = False,
    method: str = "auto",
) -> tuple[
    jax.Array,
    jax.Array,
    jax.Array,
    jax.Array,
    jax.Array,
    jax.Array,
    int,
    bool,
    str,
    tuple[int, ...],
]:
    """Validates the CTC inputs and flattens the batch, for the loss and its closed form.

    Returns ``(orig, x [B, T, K], pad [B, T] bool, labels [B, N], label_lengths [B],
    log_epsilon, blank_id, zero_infinity, method, batch_shape)``, ``method`` resolved to
    ``"sequential"`` or ``"parallel"``.
    """
    arr = floating(logits, "logits", fn)
    if arr.ndim < 2:
        raise ValueError(
            f"{fn}: `logits` must be [..., T, K] (frames, classes including the blank), got "
            f"shape {arr.shape}. Add a frame axis, e.g. `logits[None]`."
        )
    lab = integer(labels, "labels", fn)
    batch, (t_len, k) = arr.shape[:-2], arr.shape[-2:]
    if lab.ndim < 1 or lab.shape[:-1] != batch:
        raise ValueError(
            f"{fn}: `labels` has shape {lab.shape} but `logits` {arr.shape} needs labels of "
            f"shape {(*batch, 'N')} (batch shape {batch} then the padded label length)."
        )
    lpad = real(logit_paddings, "logit_paddings", fn)
    if lpad.shape != arr.shape[:-1]:
        raise ValueError(
            f"{fn}: `logit_paddings` has shape {lpad.shape}; expected {arr.shape[:-1]} "
            "(`logits.shape[:-1]`, 1 for padded frames and 0 elsewhere). For no padding, "
            "`jnp.zeros(logits.shape[:-1])`."
        )
    ypad = real(label_paddings, "label_paddings", fn)
    if ypad.shape != lab.shape:
        raise ValueError(
            f"{fn}: `label_paddings` has shape {ypad.shape}; expected {lab.shape} (the "
            "shape of `labels`, 1 for padded labels and 0 elsewhere, right-padded)."
        )
    try:
        blank = operator.index(blank_id)
    except TypeError:
        raise TypeError(f"{fn}: `blank_id` must be a Python int, got {blank_id!r}.") from None
    if not 0 <= blank < k:
        raise ValueError(
            f"{fn}: `blank_id`={blank_id} is out of range for {k} classes; pass an id in "
            f"[0, {k - 1}]."
        )
    if not isinstance(zero_infinity, bool | np.bool_):
        raise TypeError(
            f"{fn}: `zero_infinity` must be a Python bool (True or False), got "
            f"{zero_infinity!r}; it is static (it selects the computation)."
        )
    b = math.prod(batch)
    n = lab.shape[-1]
    x = upcast(arr).reshape(b, t_len, k)
    pad = (lpad != 0).reshape(b, t_len)
    lab = lab.reshape(b, n)
    lengths = n - jnp.sum(ypad.reshape(b, n) != 0, axis=-1)
    eps = jnp.asarray(log_epsilon, x.dtype)
    states = 2 * n + 2  # the parallel lattice: N + 1 blanks, N labels, the log_epsilon source
    how = choose_method(method, t_len, t_len * b * states * states, fn)
    if t_len == 0:
        how = "sequential"  # no frames, nothing to scan
    return arr, x, pad, lab, lengths, eps, blank, bool(zero_infinity), how, batch


def _infeasible(pad: jax.Array, lab: jax.Array, lengths: jax.Array) -> jax.Array:
    """``[B]``: too few unpadded frames for the labels (no alignment exists).

    An alignment needs one frame per label plus a blank between each pair of equal
    consecutive labels, so it exists iff ``frames >= length + repeats``.
    """
    n = lab.shape[-1]
    frames = jnp.sum(~pad, axis=-1)
    used = jnp.arange(1, n)[None, :] < lengths[:, None]  # label m (m >= 1) is used
    repeats = jnp.sum((lab[:, 1:] == lab[:, :-1]) & used, axis=-1)
    return frames < lengths + repeats


def _zeroed_inputs(
    x: jax.Array, pad: jax.Array, lab: jax.Array, lengths: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``zero_infinity``'s double-where: infeasible examples get safe inputs.

    Returns ``(infeasible [B], x, lengths)`` with the logits of an infeasible example
    set to 0 and its label length to 0, so that nothing non-finite is computed for it
    (neither in the value nor in the gradient) before it is replaced by 0.
    """
    bad = _infeasible(pad, lab, lengths)
    return bad, jnp.where(bad[:, None, None], 0.0, x), jnp.where(bad, 0, lengths)


class _Lattice:
    """Per-frame log-probabilities on the CTC lattice of a flattened batch."""

    def __init__(
        self, x: jax.Array, lab: jax.Array, lengths: jax.Array, blank: int, eps: jax.Array
    ):
        b, t_len, k = x.shape
        n = lab.shape[-1]
        self.k, self.n, self.eps = k, n, eps
        in_range = (lab >= 0) & (lab < k)
        used = jnp.arange(n)[None, :] < lengths[:, None]
        self.ok = jnp.all(in_range | ~used, axis=-1)  # [B]: every used label valid
        self.lab = jnp.where(in_range, lab, 0)
        self.log_probs, self.probs, _ = log_softmax_parts(x, (2,), None)
        self.lp_blank = self.log_probs[:, :, blank]  # [B, T]
        idx = jnp.broadcast_to(self.lab[:, None, :], (b, t_len, n))
        self.lp_emit = jnp.take_along_axis(self.log_probs, idx, axis=2)  # [B, T, N]
        # repeat[:, m]: label m equals label m - 1, so emit[m-1] -> emit[m] is forbidden.
        same = self.lab[:, 1:] == self.lab[:, :-1]
        self.repeat = jnp.concatenate([jnp.zeros((b, 1), bool), same], axis=1)
        self.lengths = lengths

    def _time_major(self, pad: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """The scans' inputs ``(lp_emit [T, B, N], lp_blank [T, B], pad [T, B])``."""
        return (
            jnp.swapaxes(self.lp_emit, 0, 1),
            jnp.swapaxes(self.lp_blank, 0, 1),
            jnp.swapaxes(pad, 0, 1),
        )

    def forward(self, pad: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Forward pass: ``(log_alpha_phi [T, B, N+1], log_alpha_emit [T, B, N], log Z [B])``.

        ``log_alpha`` at frame ``t`` includes frame ``t``'s emission; padded frames
        repeat the previous values.
        """
        b = pad.shape[0]
        eps = self.eps
        phi0 = varying_like(jnp.full((b, self.n + 1), eps).at[:, 0].set(0.0), pad)
        emit0 = varying_like(jnp.full((b, self.n), eps), pad)

        def step(
            carry: tuple[jax.Array, jax.Array],
            xs: tuple[jax.Array, jax.Array, jax.Array],
        ) -> tuple[tuple[jax.Array, jax.Array], tuple[jax.Array, jax.Array]]:
            phi, emit = carry
            lp_emit, lp_blank, is_pad = xs
            into_phi = _absorb(phi, emit)
            # emit[m-1] -> emit[m] skips the blank, unless label m repeats label m - 1.
            prev_label = jnp.concatenate([jnp.full_like(emit[:, :1], eps), emit[:, :-1]], 1)
            skip = jnp.where(self.repeat, eps, prev_label)
            into_emit = jnp.logaddexp(jnp.logaddexp(phi[:, :-1], skip), emit)
            new_emit = into_emit + lp_emit
            new_phi = into_phi + lp_blank[:, None]
            new_phi = jnp.where(is_pad[:, None], phi, new_phi)
            new_emit = jnp.where(is_pad[:, None], emit, new_emit)
            return (new_phi, new_emit), (new_phi, new_emit)

        xs = self._time_major(pad)
        (phi_t, emit_t), (alpha_phi, alpha_emit) = lax.scan(step, (phi0, emit0), xs)
        final = _absorb(phi_t, emit_t)
        log_z = jnp.take_along_axis(final, self.lengths[:, None], axis=1)[:, 0]
        return alpha_phi, alpha_emit, log_z

    def backward(self, pad: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Backward pass: log-probability of completing the labels *after* frame ``t``.

        Returns ``(log_beta_phi [T, B, N+1], log_beta_emit [T, B, N])``.
        """
        # The exact adjoint of `forward`: a state that cannot finish has log beta = -inf
        # (the forward's log_epsilon entries are constants, which nothing flows back to).
        eps = jnp.asarray(-jnp.inf, self.eps.dtype)
        pos = jnp.arange(self.n + 1)
        bphi0 = varying_like(jnp.where(pos[None, :] == self.lengths[:, None], 0.0, eps), pad)
        bemit0 = varying_like(jnp.where(pos[None, :-1] == self.lengths[:, None] - 1, 0.0, eps), pad)
        no_next = jnp.full((pad.shape[0], 1), eps)

        def step(
            carry: tuple[jax.Array, jax.Array],
            xs: tuple[jax.Array, jax.Array, jax.Array],
        ) -> tuple[tuple[jax.Array, jax.Array], tuple[jax.Array, jax.Array]]:
            bphi, bemit = carry
            lp_emit, lp_blank, is_pad = xs
            stay_emit = lp_emit + bemit  # [B, N]: emit label m at this frame, then go on
            stay_phi = lp_blank[:, None] + bphi  # [B, N+1]: a blank at this frame
            # phi[m] -> phi[m] or emit[m]
            to_emit = jnp.concatenate([stay_emit, no_next], axis=1)
            new_bphi = jnp.logaddexp(stay_phi, to_emit)
            # emit[m] -> emit[m], phi[m+1], or emit[m+1] unless it repeats label m
            nxt = jnp.where(self.repeat[:, 1:], eps, stay_emit[:, 1:])
            nxt = jnp.concatenate([nxt, no_next], axis=1)
            new_bemit = jnp.logaddexp(jnp.logaddexp(stay_emit, stay_phi[:, 1:]), nxt)
            new_bphi = jnp.where(is_pad[:, None], bphi, new_bphi)
            new_bemit = jnp.where(is_pad[:, None], bemit, new_bemit)
            return (new_bphi, new_bemit), (bphi, bemit)

        xs = self._time_major(pad)
        _, (beta_phi, beta_emit) = lax.scan(step, (bphi0, bemit0), xs, reverse=True)
        return beta_phi, beta_emit


def _absorb(phi: jax.Array, emit: jax.Array) -> jax.Array:
    """``phi[n] (+) emit[n-1]``: after label ``n - 1`` ends, ``n`` labels are done."""
    return jnp.concatenate([phi[:, :1], jnp.logaddexp(phi[:, 1:], emit)], axis=1)


# --- parallel in time -------------------------------------------------------------------
#
# One frame of the forward recursion is a log-semiring matrix product alpha_t = alpha_{t-1}
# M_t over S = 2N + 2 states: the N + 1 blanks phi[n], the N labels emit[n] and a constant
# state c (value 0 at every frame) that stands for the `log_epsilon` the sequential scan
# feeds into a forbidden skip (into emit[0], and into emit[n] when label n repeats label
# n - 1). With M_t[i, j] = A[i, j] + e_t[j] at an unpadded frame (e_t the frame's blank or
# label log-probability, 0 for c) and the identity at a padded one, log Z is
# v_0 M_0 ... M_{T-1} end: the product is associative, so it takes log T depth by a tree of
# products (the value) or an associative scan (prefixes and suffixes: the forward and
# backward messages, for the gradient and the forward probabilities). `jaxlosses._semiring`
# holds the products.


def _parallel_lattice(lattice: _Lattice, pad: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(v0 [B, S], mats [T, B, S, S], end [B, S])`` of the CTC lattice as a matrix chain.

    State ``n`` is ``phi[n]`` (``n = 0..N``), ``N + 1 + n`` is ``emit[n]``, ``2N + 1`` is
    the ``log_epsilon`` source; ``end`` selects ``phi[len] (+) emit[len - 1]``.
    """
    n, eps = lattice.n, lattice.eps
    states = 2 * n + 2
    phi, emit, c = np.arange(n + 1), n + 1 + np.arange(n), 2 * n + 1
    dtype = lattice.lp_blank.dtype
    neg = jnp.asarray(-jnp.inf, dtype)
    base = np.full((states, states), -np.inf)
    base[phi, phi] = 0.0  # a blank again
    base[emit, emit] = 0.0  # the same label again
    base[emit, phi[1:]] = 0.0  # label n ends: a blank after n + 1 labels
    base[phi[:-1], emit] = 0.0  # from a blank, the next label
    base[c, c] = 0.0
    b = lattice.lp_blank.shape[0]
    a = jnp.broadcast_to(jnp.asarray(base, dtype), (b, states, states))
    # emit[n-1] -> emit[n] skips the blank unless label n repeats label n - 1, where (and
    # into emit[0]) the sequential scan offers log_epsilon instead: the c -> emit edge.
    forbidden = lattice.repeat.at[:, 0].set(True)  # [B, N]
    a = a.at[:, emit[:-1], emit[1:]].set(jnp.where(forbidden[:, 1:], neg, 0.0))
    a = a.at[:, c, emit].set(jnp.where(forbidden, eps, neg))
    lp_emit, lp_blank, is_pad = lattice._time_major(pad)
    t_len = lp_blank.shape[0]
    frame = jnp.concatenate(
        [
            jnp.broadcast_to(lp_blank[:, :, None], (t_len, b, n + 1)),
            lp_emit,
            jnp.zeros((t_len, b, 1), dtype),
        ],
        axis=-1,
    )  # [T, B, S]
    eye = jnp.asarray(np.where(np.eye(states, dtype=bool), 0.0, -np.inf), dtype)
    mats = jnp.where(is_pad[:, :, None, None], eye, a[None] + frame[:, :, None, :])
    v0 = jnp.concatenate(
        [jnp.zeros((b, 1), dtype), jnp.full((b, 2 * n), eps, dtype), jnp.zeros((b, 1), dtype)],
        axis=-1,
    )
    pos = jnp.arange(states)[None, :]
    length = lattice.lengths[:, None]
    last = (pos == length) | ((pos == n + length) & (length >= 1))
    end = jnp.where(last, 0.0, neg)
    return varying_like(v0, pad), mats, varying_like(end, pad)


def _chain_messages(
    v0: jax.Array, mats: jax.Array, end: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """``(alphas [T, B, S], betas [T, B, S], beta before frame 0 [B, S], log Z [B])``.

    ``alphas[t] = v0 M_0 ... M_t`` and ``betas[t] = M_{t+1} ... M_{T-1} end``, from one
    associative scan over the prefix products and the suffix products (the suffix
    ``M_t ... M_{T-1}`` is the transpose of the prefix product of the transposed matrices in
    reverse order).
    """
    b = v0.shape[0]
    steps = shifted_matrix(mats)
    backwards = jnp.swapaxes(steps[0][::-1], -1, -2), steps[1][::-1]
    both = (
        jnp.concatenate([steps[0], backwards[0]], axis=1),
        jnp.concatenate([steps[1], backwards[1]], axis=1),
    )
    products = lax.associative_scan(combine, both)
    prefix = products[0][:, :b], products[1][:, :b]
    suffix = products[0][:, b:], products[1][:, b:]
    alphas = log_vecmat(v0[None], prefix)
    ends = log_vecmat(end[None], suffix)  # ends[k] = M_{T-1-k} ... M_{T-1} end
    betas = jnp.concatenate([ends[:-1][::-1], end[None]], axis=0)
    log_z = lse(alphas[-1] + end, axis=-1)
    return alphas, betas, ends[-1], log_z


@jax.custom_jvp
def _chain_log_z(v0: jax.Array, mats: jax.Array, end: jax.Array) -> jax.Array:
    """``log(v0 M_0 ... M_{T-1} end)`` ``[B]`` by a balanced tree of products."""
    return lse(log_vecmat(v0, tree_product(shifted_matrix(mats))) + end, axis=-1)


@_chain_log_z.defjvp
def _chain_log_z_jvp(
    primals: tuple[jax.Array, ...], tangents: tuple[jax.Array, ...]
) -> tuple[jax.Array, jax.Array]:
    """``d log Z``: each entry's tangent weighted by its posterior (edge or state occupancy).

    The posteriors come from the parallel messages, so the derivative keeps the ``log T``
    depth and stores no per-combine residuals (autodiff through the products' loops would).
    """
    v0, mats, end = primals
    dv0, dmats, dend = tangents
    alphas, betas, beta_start, log_z = _chain_messages(v0, mats, end)
    before = jnp.concatenate([v0[None], alphas[:-1]], axis=0)
    edges = jnp.exp(before[..., :, None] + mats + betas[..., None, :] - log_z[None, :, None, None])
    d_log_z = (
        jnp.sum(edges * dmats, axis=(0, 2, 3))
        + jnp.sum(jnp.exp(v0 + beta_start - log_z[:, None]) * dv0, axis=-1)
        + jnp.sum(jnp.exp(alphas[-1] + end - log_z[:, None]) * dend, axis=-1)
    )
    return log_z, d_log_z


def _split_states(v: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
    """``[..., S]`` parallel-lattice messages as ``(phi [..., N+1], emit [..., N])``."""
    return v[..., : n + 1], v[..., n + 1 : 2 * n + 1]


@functools.partial(jax.jit, static_argnums=(5, 6, 7, 8))
def _ctc_forward(
    x: jax.Array,
    pad: jax.Array,
    lab: jax.Array,
    lengths: jax.Array,
    eps: jax.Array,
    blank: int,
    zero_infinity: bool = False,
    method: str = "sequential",
    alphas: bool = True,
) -> tuple[jax.Array, jax.Array | None, jax.Array | None]:
    """``(loss [B], log_alpha_phi [T, B, N+1], log_alpha_emit [T, B, N])``, compiled once.

    ``method="parallel"``: ``log Z`` by a tree of matrix products, the alphas (when
    ``alphas``; else ``None``) by an associative scan.
    """
    nan_in = jnp.any(jnp.isnan(x) & ~pad[:, :, None], axis=(1, 2))
    # Padded frames are never read; zeroing them first keeps a NaN there out of the
    # gradient too (the softmax of a NaN frame times a zero cotangent is NaN).
    x = jnp.where(pad[:, :, None], 0.0, x)
    if zero_infinity:
        bad, x, lengths = _zeroed_inputs(x, pad, lab, lengths)
    lattice = _Lattice(x, lab, lengths, blank, eps)
    alpha_phi: jax.Array | None = None
    alpha_emit: jax.Array | None = None
    if method == "parallel":
        chain = _parallel_lattice(lattice, pad)
        log_z = _chain_log_z(*chain)
        if alphas:
            alpha_phi, alpha_emit = _split_states(_chain_messages(*chain)[0], lattice.n)
    else:
        alpha_phi, alpha_emit, log_z = lattice.forward(pad)
    if (
        alpha_phi is not None and alpha_emit is not None and x.shape[1]
    ):  # T = 0: no frames, the alphas are empty
        alpha_phi = alpha_phi.at[-1].set(_absorb(alpha_phi[-1], alpha_emit[-1]))
    raw = -log_z
    # The true loss is >= 0; float32 rounding can make a confident one about -1e-8. The
    # clamp adds a constant (no gradient, so the gradient stays softmax - gamma) and
    # keeps NaN and +inf: -raw is NaN or -inf there, max(NaN, 0) is NaN, max(-inf, 0) 0.
    loss = raw + lax.stop_gradient(jnp.maximum(-raw, 0.0))
    loss = jnp.where(lattice.ok, loss, jnp.nan)
    if zero_infinity:
        # PyTorch's zero_infinity: an infinite loss (no alignment) becomes 0. A NaN
        # logit in a used frame still makes the loss NaN (a diverged model stays visible).
        zero = (bad | (loss == jnp.inf)) & lattice.ok
        loss = jnp.where(zero, jnp.where(nan_in, jnp.nan, 0.0), loss)
    return loss, alpha_phi, alpha_emit


def ctc_loss_with_forward_probs(
    logits: ArrayLike,
    logit_paddings: ArrayLike,
    labels: ArrayLike,
    label_paddings: ArrayLike,
    *,
    blank_id: int = 0,
    log_epsilon: ArrayLike = -1e5,
    method: str = "auto",
) -> tuple[jax.Array, jax.Array, jax.Array]:
    r"""CTC loss and the CTC forward (alpha) log-probabilities.

    .. math:: \ell = -\log \sum_{\pi \in \mathcal{B}^{-1}(y)} \prod_t
       \operatorname{softmax}(x_t)_{\pi_t}

    where ``B`` collapses repeated symbols and then removes blanks. Same name, arguments
    and values as :func:`optax.losses.ctc_loss_with_forward_probs`, plus any batch shape.

    Args:
      logits: ``[..., T, K]`` unnormalised log-probabilities per frame, ``K`` classes
        including the blank.
      logit_paddings: ``[..., T]``; nonzero (1.0) marks a padded frame, which is skipped.
      labels: ``[..., N]`` integer labels, right-padded.
      label_paddings: ``[..., N]``; nonzero (1.0) marks a padded label. The label length
        is ``N`` minus the number of padded labels (right padding is assumed).
      blank_id: the class id of the blank.
      log_epsilon: the stand-in for ``log 0`` (unreachable states); a loss near
        ``-log_epsilon`` means the labels cannot be aligned to the frames.
      method: how to run the forward algorithm, as in :func:`ctc_loss`.

    Returns:
      ``(loss, logalpha_blank, logalpha_nonblank)``: the loss with the batch shape, and
      ``[T, ..., N+1]`` / ``[T, ..., N]`` log forward probabilities of being on a blank
      after ``n`` labels / emitting label ``n`` at frame ``t`` (the last blank row also
      counts paths that just finished label ``n - 1``). NaN loss for an example whose
      unpadded labels are outside ``[0, K)``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> logits = jnp.zeros((1, 2, 2))  # two frames, uniform over {blank, a}
      >>> loss, a_blank, a_emit = jl.ctc_loss_with_forward_probs(
      ...     logits, jnp.zeros((1, 2)), jnp.array([[1]]), jnp.zeros((1, 1)))
      >>> loss.tolist()  # -log(3/4): a-a, a-blank, blank-a  # doctest: +ELLIPSIS
      [0.28768...]
      >>> a_blank.shape, a_emit.shape
      ((2, 1, 2), (2, 1, 1))

    References:
      Graves et al., `Connectionist temporal classification: labelling unsegmented
      sequence data with recurrent neural networks <https://doi.org/10.1145/1143844.1143891>`_,
      ICML 2006.
    """
    fn = "ctc_loss_with_forward_probs"
    arr, x, pad, lab, lengths, eps, blank, _, how, batch = _ctc_inputs(
        logits, logit_paddings, labels, label_paddings, blank_id, log_epsilon, fn, method=method
    )
    loss, alpha_phi, alpha_emit = _ctc_forward(x, pad, lab, lengths, eps, blank, False, how)
    alpha_phi, alpha_emit = cast(jax.Array, alpha_phi), cast(jax.Array, alpha_emit)  # alphas=True
    t_len, n = x.shape[1], lab.shape[-1]
    return (
        loss.reshape(batch).astype(arr.dtype),
        alpha_phi.reshape(t_len, *batch, n + 1).astype(arr.dtype),
        alpha_emit.reshape(t_len, *batch, n).astype(arr.dtype),
    )


def ctc_loss(
    logits: ArrayLike,
    logit_paddings: ArrayLike,
    labels: ArrayLike,
    label_paddings: ArrayLike,
    *,
    blank_id: int = 0,
    log_epsilon: ArrayLike = -1e5,
    zero_infinity: bool = False,
    method: str = "auto",
) -> jax.Array:
    r"""CTC loss: the negative log-probability of the labels, summed over alignments.

    .. math:: \ell = -\log \sum_{\pi \in \mathcal{B}^{-1}(y)} \prod_t
       \operatorname{softmax}(x_t)_{\pi_t}

    Same name, arguments and values as :func:`optax.losses.ctc_loss` (see
    :func:`ctc_loss_with_forward_probs`), plus any batch shape. PyTorch's
    ``ctc_loss(log_softmax(x), ..., reduction='none')`` with time-major inputs computes
    the same value.

    Unchecked, a label outside ``[0, K)`` (``labels`` is not range-checked, for speed)
    gives a NaN loss for its example; the other examples and the gradients stay
    finite. ``jaxlosses.checked(ctc_loss)`` raises instead, and also on an unpadded
    label equal to ``blank_id`` (it can never be emitted).

    The loss is never negative: float32 rounding of a near-certain alignment (about
    ``-1e-8``) is clamped to 0, keeping NaN and ``+inf``, and the gradient is still
    the exact ``softmax - gamma``.

    Infeasible examples (fewer unpadded frames than the labels need: one per label plus
    a blank between equal neighbours, e.g. any nonempty label with ``T = 0``) have
    probability 0: by default the loss is the ``log_epsilon`` stand-in, about
    ``-log_epsilon`` times the missing frames, as in optax. ``zero_infinity=True`` gives them loss 0 and gradient 0 instead, as
    ``torch.nn.functional.ctc_loss(..., zero_infinity=True)`` (a NaN logit in a used
    frame still gives NaN). An empty label with ``T = 0`` has loss 0.

    Args:
      logits: ``[..., T, K]`` unnormalised log-probabilities per frame.
      logit_paddings: ``[..., T]``; nonzero marks a padded frame.
      labels: ``[..., N]`` integer labels, right-padded.
      label_paddings: ``[..., N]``; nonzero marks a padded label.
      blank_id: the class id of the blank.
      log_epsilon: the stand-in for ``log 0``.
      zero_infinity: give infeasible examples loss 0 and gradient 0 (PyTorch's
        ``zero_infinity``).
      method: how to run the forward (and, for the gradient, backward) algorithm.
        ``"sequential"``: a :func:`jax.lax.scan` over the frames (depth ``T``).
        ``"parallel"``: log-semiring products of per-frame ``[S, S]`` matrices over the
        ``S = 2N + 2`` lattice states by :func:`jax.lax.associative_scan` (depth
        ``log T``, ``S`` times the work, ``[T, B, S, S]`` memory), the same values to
        rounding. ``"auto"`` (default): ``"parallel"`` on an accelerator for ``T >= 64``
        when the matrices fit (``T * B * S * S <= 2**27``), else ``"sequential"``
        (always on CPU, where ``bench/results/ctc_parallel_cpu.md`` measured no length at
        which the parallel method is faster).

    Returns:
      Per-sequence loss with the batch shape, dtype of ``logits``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> logits = jnp.log(jnp.array([[[0.5, 0.5], [0.8, 0.2]]]))  # P(blank), P(a)
      >>> labels, no_pad = jnp.array([[1]]), jnp.zeros((1, 1))
      >>> jl.ctc_loss(logits, jnp.zeros((1, 2)), labels, no_pad).tolist()  # doctest: +ELLIPSIS
      [0.51082...]

    References:
      Graves et al., `Connectionist temporal classification
      <https://doi.org/10.1145/1143844.1143891>`_, ICML 2006.
    """
    arr, x, pad, lab, lengths, eps, blank, zero_inf, how, batch = _ctc_inputs(
        logits,
        logit_paddings,
        labels,
        label_paddings,
        blank_id,
        log_epsilon,
        "ctc_loss",
        zero_infinity,
        method,
    )
    loss, _, _ = _ctc_forward(x, pad, lab, lengths, eps, blank, zero_inf, how, False)
    return loss.reshape(batch).astype(arr.dtype)


@closed_form_of(ctc_loss, _ctc_inputs)
def _ctc_loss_grad(
    arr: jax.Array,
    x: jax.Array,
    pad: jax.Array,
    lab: jax.Array,
    lengths: jax.Array,
    eps: jax.Array,
    blank: int,
    zero_infinity: bool,
    method: str,
    batch: tuple[int, ...],
) -> jax.Array:
    """``softmax(x_t) - gamma_t`` on unpadded frames, 0 on padded ones.

    ``gamma_t(k)`` sums the state posteriors ``exp(alpha_t + beta_t - log Z)`` of the states
    that emit ``k`` at frame ``t`` (the blank states for ``k = blank``). With
    ``zero_infinity``, 0 for an infeasible example.
    """
    g = _ctc_grad(x, pad, lab, lengths, eps, blank, zero_infinity, method)
    return g.reshape(arr.shape).astype(arr.dtype)


@functools.partial(jax.jit, static_argnums=(5, 6, 7))
def _ctc_grad(
    x: jax.Array,
    pad: jax.Array,
    lab: jax.Array,
    lengths: jax.Array,
    eps: jax.Array,
    blank: int,
    zero_infinity: bool = False,
    method: str = "sequential",
) -> jax.Array:
    """``softmax - gamma`` for the flattened batch ``[B, T, K]``.

    ``gamma_t`` sums to 1 over ``k`` unless no alignment exists: then the forward pass's
    ``log_epsilon`` source carries the rest of the mass (frames spent "before" a forbidden
    skip emit nothing), so the softmax term is weighted by ``sum_k gamma_t(k)``, which
    makes the closed form ``jax.grad`` of the forward pass for infeasible examples too.
    ``method="parallel"``: the messages of the matrix chain (:func:`_chain_messages`).
    """
    nan_in = jnp.any(jnp.isnan(x) & ~pad[:, :, None], axis=(1, 2))
    # Padded frames are never read; zeroing them first keeps a NaN there out of the
    # gradient too (the softmax of a NaN frame times a zero cotangent is NaN).
    x = jnp.where(pad[:, :, None], 0.0, x)
    bad = jnp.zeros(x.shape[:1], bool)
    if zero_infinity:
        bad, x, lengths = _zeroed_inputs(x, pad, lab, lengths)
        bad = bad & ~nan_in
    lattice = _Lattice(x, lab, lengths, blank, eps)
    if method == "parallel":
        alphas, betas, _, log_z = _chain_messages(*_parallel_lattice(lattice, pad))
        alpha_phi, alpha_emit = _split_states(alphas, lattice.n)
        beta_phi, beta_emit = _split_states(betas, lattice.n)
    else:
        alpha_phi, alpha_emit, log_z = lattice.forward(pad)
        beta_phi, beta_emit = lattice.backward(pad)

    def posterior(log_alpha: jax.Array, log_beta: jax.Array) -> jax.Array:
        # Occupation probabilities are at most 1; the clip only matters when the labels
        # cannot be aligned (log Z is then a log_epsilon artefact).
        return jnp.exp(jnp.minimum(log_alpha + log_beta - log_z[None, :, None], 0.0))

    gamma_blank = jnp.sum(posterior(alpha_phi, beta_phi), axis=-1)  # [T, B]
    gamma_emit = posterior(alpha_emit, beta_emit)  # [T, B, N]
    onehot = jax.nn.one_hot(lattice.lab, lattice.k, dtype=x.dtype)  # [B, N, K]
    gamma = jnp.einsum("tbn,bnk->btk", gamma_emit, onehot)
    gamma = gamma.at[:, :, blank].add(gamma_blank.T)
    keep = ~pad[:, :, None] & (lattice.ok & ~bad)[:, None, None]
    total = jnp.sum(gamma, axis=-1, keepdims=True)
    return jnp.where(keep, total * lattice.probs - gamma, 0.0)


# --- run-time value checks (jaxlosses.checked) ---------------------------------------


def _not_blank() -> Check:
    """Unpadded CTC labels differ from ``blank_id`` (a blank label can never be emitted)."""

    def predicates(b: Bound) -> list[Predicate]:
        if not is_array(b.get("labels")) or not is_array(b.get("label_paddings")):
            return []
        blank = b.get("blank_id", 0)
        y = jnp.asarray(b["labels"])
        ok = (y != blank) | (jnp.asarray(b["label_paddings"]) != 0)
        return [
            (
                ok,
                f"`labels` must not hold the blank id {blank} at unpadded positions (the "
                f"blank separates labels and is never emitted as one); found it "
                f"{{n}} time(s). Shift the label ids or pass the right `blank_id`.",
                {"n": jnp.sum(~ok)},
            )
        ]

    def corrupt(b: Bound) -> dict[str, Any] | None:
        if not is_array(b.get("labels")) or not is_array(b.get("label_paddings")):
            return None
        y, p = np.array(b["labels"], copy=True), np.array(b["label_paddings"], copy=True)
        y.reshape(-1)[0] = b.get("blank_id", 0)
        p.reshape(-1)[0] = 0  # right padding: the first label of a sequence is then used
        return {**b, "labels": y, "label_paddings": p}

    return Check("labels", "no blank label", predicates, corrupt)


register_checks(
    ctc_loss,
    labels_in_range("labels", "logits", axis=-1, ignore=padded_labels),
    _not_blank(),
    in_set("logit_paddings", (0.0, 1.0)),
    in_set("label_paddings", (0.0, 1.0)),
)
