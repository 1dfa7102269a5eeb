r"""Preference optimisation: sequence log-probabilities and the DPO family of losses.

The losses of post-training from preferences take *per-sequence* log-probabilities: the
policy's (learned) and, for most of them, a frozen reference model's, of a chosen and a
rejected completion of the same prompt. :func:`sequence_log_probs` (from logits) and
:func:`linear_sequence_log_probs` (from hidden states and the output weight, without
materialising the logits) compute them. Each loss is per example (per pair, or per
completion for KTO) and is followed by its closed-form gradient (``_<name>_grad``) of the
*summed* loss with respect to the policy's log-probabilities, derived by hand and
re-exported as :mod:`jaxlosses.closed_form`.

Notation: ``π`` the policy, ``π_ref`` the reference, ``y_w``/``y_l`` the chosen/rejected
completions and the log-ratio margin

.. math:: \Delta = (\log \pi(y_w) - \log \pi_{ref}(y_w))
                  - (\log \pi(y_l) - \log \pi_{ref}(y_l)).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from ._checks import (
    Bound,
    Check,
    Predicate,
    _present,
    _set_first,
    labels_in_range,
    register_checks,
    unused_where,
)
from ._core import (
    broadcast_or_raise,
    check_equal_shapes,
    closed_form_of,
    errors_named,
    fill_docstrings,
    floating,
    gather_last,
    hyperparameter,
    integer,
    real,
    upcast,
)
from ._fused import linear_softmax_cross_entropy
from ._primitives import lse_of_shifted, shift

__all__ = [
    "dpo_loss",
    "ipo_loss",
    "kto_loss",
    "linear_sequence_log_probs",
    "orpo_loss",
    "preference_hinge_loss",
    "preference_rewards",
    "robust_dpo_loss",
    "sequence_log_probs",
    "simpo_loss",
]


# --- sequence log-probabilities --------------------------------------------------------


def _token_mask(where: ArrayLike | None, shape: tuple[int, ...], fn: str) -> jax.Array:
    """The boolean token mask of the labels' ``shape`` (all True without ``where``)."""
    if where is None:
        return jnp.ones(shape, bool)
    w = real(where, "where", fn)
    if w.dtype != jnp.bool_:
        w = w != 0
    return broadcast_or_raise(
        w,
        shape,
        f"{fn}: `where` has shape {w.shape}; it masks tokens, so it needs the labels' "
        f"shape {shape} (e.g. `where=labels != -100`).",
    )


def _per_sequence(tokens: jax.Array, m: jax.Array, average: bool) -> jax.Array:
    """Sums per-token values ``[..., T]`` over the sequence; with ``average``, their mean."""
    total = jnp.sum(tokens, axis=-1)
    if not average:
        return total
    count = jnp.sum(m, axis=-1)
    return jnp.where(count > 0, total / jnp.maximum(count, 1).astype(total.dtype), 0.0)


def _token_scale(m: jax.Array, average: bool, dtype: Any) -> jax.Array:
    """``d(per-sequence value)/d(token value)``, ``[..., T]``: 1 (sum) or ``1/count`` (mean)."""
    scale = m.astype(dtype)
    if average:
        count = jnp.maximum(jnp.sum(m, axis=-1, keepdims=True), 1).astype(dtype)
        scale = scale / count
    return scale


def _sequence_inputs(
    logits: ArrayLike, labels: ArrayLike, where: ArrayLike | None, average: bool, fn: str
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array, bool]:
    """Returns ``(logits as given, x, y, token mask, label in range, average)``.

    ``x`` is upcast with masked tokens' logits replaced by 0, so that nothing at a masked
    token (a NaN, an infinity) reaches the value or the gradient.
    """
    arr = floating(logits, "logits", fn)
    lab = integer(labels, "labels", fn)
    if arr.ndim < 2 or lab.shape != arr.shape[:-1]:
        raise ValueError(
            f"{fn}: `logits` has shape {arr.shape} and `labels` has shape {lab.shape}; "
            "expected logits [..., T, V] and integer labels [..., T] (one token per "
            "position). For a causal model, shift first: `logits[:, :-1]`, `labels[:, 1:]`."
        )
    m = _token_mask(where, lab.shape, fn)
    x = jnp.where(m[..., None], upcast(arr), 0.0)
    v = x.shape[-1]
    in_range = (lab >= 0) & (lab < v)
    return arr, x, jnp.where(in_range, lab, 0), m, in_range, average


def sequence_log_probs(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    where: ArrayLike | None = None,
    average: bool = False,
) -> jax.Array:
    r"""Log-probability of each label sequence: the sum (or mean) of its tokens' log-probs.

    .. math:: \log \pi(y) = \sum_{t:\, m_t} \log \operatorname{softmax}(x_t)_{y_t},
       \qquad \text{average: } \frac{1}{\sum_t m_t} \sum_{t:\, m_t}
       \log \operatorname{softmax}(x_t)_{y_t}

    The input of every preference loss: :func:`dpo_loss`, :func:`ipo_loss`,
    :func:`preference_hinge_loss` and :func:`kto_loss` take the sums (TRL's DPO and KTO
    trainers); :func:`simpo_loss` and :func:`orpo_loss` take the means (``average=True``,
    TRL's ``average_log_prob=True``). Computed as the gathered logit minus the
    log-normaliser, never ``log(softmax(x))``. It equals
    ``-sum(softmax_cross_entropy_with_integer_labels(logits, labels, where=where), -1)``.

    The logits and labels are aligned as given: for a causal language model, where the
    logits at position ``t`` predict token ``t + 1``, pass ``logits[..., :-1, :]`` and
    ``labels[..., 1:]`` (and the mask shifted likewise). TRL's ``-100`` padding labels
    are ``where=labels != -100``; masking the prompt tokens too gives the completion's
    log-probability.

    Args:
      logits: ``[..., T, V]`` next-token logits.
      labels: ``[..., T]`` integer token ids.
      where: optional boolean token mask ``[..., T]``; masked tokens contribute nothing
        (whatever their logits or labels hold).
      average: return the mean over the unmasked tokens instead of the sum (the
        length-normalised log-probability of SimPO and ORPO); a fully masked sequence
        gives 0.

    Returns:
      ``[...]``, one value per sequence (``<= 0``), dtype of ``logits``. Unchecked, an
      unmasked label outside ``[0, V)`` gives NaN for its sequence (and no gradient from
      that token), as :func:`softmax_cross_entropy_with_integer_labels`;
      ``jaxlosses.checked(sequence_log_probs)`` raises instead.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> logits = jnp.log(jnp.array([[[0.5, 0.25, 0.25], [0.1, 0.1, 0.8], [0.2, 0.3, 0.5]]]))
      >>> labels = jnp.array([[0, 2, -100]])
      >>> jl.sequence_log_probs(logits, labels, where=labels != -100).round(4).tolist()
      [-0.9163]
      >>> jl.sequence_log_probs(logits, labels, where=labels != -100, average=True).round(4).tolist()
      [-0.4581]

    References:
      Rafailov et al., `Direct Preference Optimization: Your Language Model is Secretly a
      Reward Model <https://arxiv.org/abs/2305.18290>`_, 2023 (the sequence log-ratios);
      TRL's ``get_batch_logps``
      (`trl <https://github.com/huggingface/trl>`_).
    """
    arr, x, y, m, in_range, _ = _sequence_inputs(
        logits, labels, where, average, "sequence_log_probs"
    )
    last = (x.ndim - 1,)
    shifted, _ = shift(x, last, None)
    lse = lse_of_shifted(shifted, last)[..., 0]
    token = gather_last(shifted, y) - lse
    token = jnp.where(m, jnp.where(in_range, token, jnp.nan), 0.0)
    return _per_sequence(token, m, average).astype(arr.dtype)


@closed_form_of(sequence_log_probs, _sequence_inputs)
def _sequence_log_probs_grad(
    arr: jax.Array,
    x: jax.Array,
    y: jax.Array,
    m: jax.Array,
    in_range: jax.Array,
    average: bool,
) -> jax.Array:
    """``s_t (e_{y_t} - softmax(x_t))`` per token, ``s_t`` = 1 (sum) or ``1/count`` (mean).

    0 at masked tokens and at tokens whose label is out of range.
    """
    last = (x.ndim - 1,)
    shifted, _ = shift(x, last, None)
    probs = jnp.exp(shifted - lse_of_shifted(shifted, last))
    onehot = jax.nn.one_hot(y, x.shape[-1], dtype=x.dtype)
    scale = jnp.where(in_range, _token_scale(m, average, x.dtype), 0.0)
    return (scale[..., None] * (onehot - probs)).astype(arr.dtype)


def _linear_sequence_inputs(
    hidden: ArrayLike,
    weight: ArrayLike,
    labels: ArrayLike,
    bias: ArrayLike | None,
    where: ArrayLike | None,
    average: bool,
    chunk_size: int | None,
    custom_vjp: bool,
    fn: str,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array | None, ArrayLike | None, bool]:
    """Returns ``(hidden, weight, labels, bias, where, average)`` checked for the closed form.

    ``chunk_size`` and ``custom_vjp`` only steer the loss's streaming computation.
    """
    h = floating(hidden, "hidden", fn)
    w = floating(weight, "weight", fn)
    if h.ndim < 2:
        raise ValueError(
            f"{fn}: `hidden` has shape {h.shape}; expected [..., T, D] (a sequence axis "
            "before the features)."
        )
    b = None if bias is None else floating(bias, "bias", fn)
    return h, w, integer(labels, "labels", fn), b, where, average


def linear_sequence_log_probs(
    hidden: ArrayLike,
    weight: ArrayLike,
    labels: ArrayLike,
    *,
    bias: ArrayLike | None = None,
    where: ArrayLike | None = None,
    average: bool = False,
    chunk_size: int | None = None,
    custom_vjp: bool = True,
) -> jax.Array:
    r""":func:`sequence_log_probs` of ``hidden @ weight + bias``, without materialising the logits.

    .. math:: \log \pi(y) = -\sum_{t:\, m_t} \ell^{CE}(h_t W + b,\ y_t)

    The per-token cross-entropy of :func:`linear_softmax_cross_entropy` (which streams
    over chunks of tokens, so only one ``[chunk_size, V]`` block of logits exists at a
    time), negated and summed (or averaged) per sequence. Memory and differentiation are
    those of :func:`linear_softmax_cross_entropy`: with ``custom_vjp=True`` reverse mode
    uses its fused gradient; a preference loss weights each sequence differently, so its
    cotangent is not uniform over tokens and the backward pass takes the exact second
    streaming pass for ``dL/dweight``. ``custom_vjp=False`` allows forward mode.

    Args:
      hidden: ``[..., T, D]`` final hidden states (aligned with ``labels``: for a causal
        model, ``hidden[..., :-1, :]`` against ``labels[..., 1:]``).
      weight: ``[D, V]`` output projection (``E.T`` for a tied embedding table ``E``).
      labels: ``[..., T]`` integer token ids.
      bias: optional ``[V]`` output bias.
      where: optional boolean token mask ``[..., T]``, e.g. ``labels != -100``.
      average: the mean over the unmasked tokens instead of the sum (0 for a fully
        masked sequence).
      chunk_size: tokens per chunk (see :func:`linear_softmax_cross_entropy`).
      custom_vjp: use the fused custom gradient (default) or plain autodiff.

    Returns:
      ``[...]``, one value per sequence, dtype of ``hidden``. Unchecked, an unmasked
      label outside ``[0, V)`` gives NaN for its sequence (and no gradient from that
      token); ``jaxlosses.checked(linear_sequence_log_probs)`` raises instead.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> hidden = jnp.array([[[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]])
      >>> weight = jnp.array([[1.0, -1.0, 0.0], [0.5, 0.0, -0.5]])
      >>> jl.linear_sequence_log_probs(hidden, weight, jnp.array([[0, 2, 1]])).round(4).tolist()
      [-5.5119]
    """
    fn = "linear_sequence_log_probs"
    h, w, y, b, wh, _ = _linear_sequence_inputs(
        hidden, weight, labels, bias, where, average, chunk_size, custom_vjp, fn
    )
    m = None if wh is None else _token_mask(wh, y.shape, fn)
    with errors_named("linear_softmax_cross_entropy", fn):
        nll = linear_softmax_cross_entropy(
            h, w, y, bias=b, where=m, chunk_size=chunk_size, custom_vjp=custom_vjp
        )
    mask = jnp.ones(y.shape, bool) if m is None else m
    return _per_sequence(-upcast(nll), mask, average).astype(h.dtype)


@closed_form_of(linear_sequence_log_probs, _linear_sequence_inputs)
def _linear_sequence_log_probs_grad(
    h: jax.Array,
    w: jax.Array,
    y: jax.Array,
    b: jax.Array | None,
    where: ArrayLike | None,
    average: bool,
) -> tuple[jax.Array, jax.Array]:
    r"""``(G Wᵀ, Σ hᵀ G)`` with ``G = ∂/∂z`` of :func:`sequence_log_probs` at ``z = hW + b``.

    Written with the logits materialised, for clarity.
    """
    hc, wc = upcast(h), upcast(w)
    z = hc @ wc.astype(hc.dtype)
    if b is not None:
        z = z + jnp.broadcast_to(upcast(b).astype(z.dtype), z.shape)
    g = _sequence_log_probs_grad(z, y, where=where, average=average)
    d_hidden = g @ wc.astype(hc.dtype).T
    d_weight = jnp.einsum("...d,...v->dv", hc, g)
    return d_hidden.astype(h.dtype), d_weight.astype(w.dtype)


# --- shared input handling of the preference losses --------------------------------------


def _logps(fn: str, **named: ArrayLike) -> tuple[jax.Array, tuple[jax.Array, ...]]:
    """Validates per-sequence log-probabilities of one shape; ``(first as given, upcast)``.

    All are computed in the compute dtype of the first (the policy's chosen log-probs).
    """
    arrays = {k: floating(v, k, fn) for k, v in named.items()}
    check_equal_shapes(arrays, fn)
    first = next(iter(arrays.values()))
    dt = upcast(first).dtype
    return first, tuple(upcast(a).astype(dt) for a in arrays.values())


def _beta(beta: ArrayLike, fn: str) -> ArrayLike:
    return hyperparameter(
        beta, "beta", fn, low=0.0, open_low=True,
        why="it scales the log-ratio rewards (0.1 is TRL's default); 0 would make the loss a "
        "constant",
    )  # fmt: skip


def _coefficient(value: ArrayLike, like: jax.Array) -> jax.Array:
    return jnp.asarray(value, dtype=like.dtype)


def _is_zero(value: ArrayLike) -> bool:
    """A static 0 (a Python number): its term is left out, so ``0 · inf`` never appears."""
    return isinstance(value, int | float) and value == 0


def _softplus(x: jax.Array) -> jax.Array:
    return jnp.logaddexp(x, 0.0)


def _smoothed_logistic(z: jax.Array, eps: ArrayLike) -> jax.Array:
    """``(1 - ε) softplus(-z) + ε softplus(z)``: the logistic loss with flipped-label rate ε."""
    if _is_zero(eps):
        return _softplus(-z)
    e = _coefficient(eps, z)
    return (1.0 - e) * _softplus(-z) + e * _softplus(z)


def _smoothed_logistic_grad(z: jax.Array, eps: ArrayLike) -> jax.Array:
    """``d/dz`` of :func:`_smoothed_logistic`: ``σ(z) - (1 - ε)``."""
    return jax.nn.sigmoid(z) - (1.0 - _coefficient(eps, z))


def _pair(first: jax.Array, g: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The gradients w.r.t. the chosen (``g``) and the rejected (``-g``) log-probabilities."""
    return g.astype(first.dtype), (-g).astype(first.dtype)


_PAIR_ARGS = """Args:
      policy_chosen_logps: ``[...]`` the policy's log-probabilities of the chosen
        completions (summed over their tokens: :func:`sequence_log_probs`).
      policy_rejected_logps: the same for the rejected completions, same shape.
      reference_chosen_logps: the reference model's log-probabilities of the chosen
        completions, same shape (usually under :func:`jax.lax.stop_gradient`, or
        precomputed).
      reference_rejected_logps: the same for the rejected completions."""


def _dpo_inputs(
    policy_chosen_logps: ArrayLike,
    policy_rejected_logps: ArrayLike,
    reference_chosen_logps: ArrayLike,
    reference_rejected_logps: ArrayLike,
    fn: str,
) -> tuple[jax.Array, jax.Array]:
    """``(policy_chosen_logps as given, Δ)``: the log-ratio margin, upcast."""
    first, (pc, pr, rc, rr) = _logps(
        fn,
        policy_chosen_logps=policy_chosen_logps,
        policy_rejected_logps=policy_rejected_logps,
        reference_chosen_logps=reference_chosen_logps,
        reference_rejected_logps=reference_rejected_logps,
    )
    return first, (pc - rc) - (pr - rr)


def _dpo_family_inputs(
    policy_chosen_logps: ArrayLike,
    policy_rejected_logps: ArrayLike,
    reference_chosen_logps: ArrayLike,
    reference_rejected_logps: ArrayLike,
    beta: ArrayLike,
    label_smoothing: ArrayLike,
    fn: str,
) -> tuple[jax.Array, jax.Array, jax.Array, ArrayLike]:
    """``(first as given, z = βΔ, β, ε)`` for the losses with a label smoothing ε."""
    first, delta = _dpo_inputs(
        policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
        reference_rejected_logps, fn,
    )  # fmt: skip
    b = _coefficient(_beta(beta, fn), delta)
    return first, b * delta, b, label_smoothing


# --- DPO, conservative DPO, robust DPO ----------------------------------------------------


def dpo_loss(
    policy_chosen_logps: ArrayLike,
    policy_rejected_logps: ArrayLike,
    reference_chosen_logps: ArrayLike,
    reference_rejected_logps: ArrayLike,
    *,
    beta: ArrayLike = 0.1,
    label_smoothing: ArrayLike = 0.0,
) -> jax.Array:
    r"""Direct preference optimisation (DPO), and conservative DPO with ``label_smoothing``.

    .. math:: \ell = -(1 - \varepsilon) \log \sigma(\beta \Delta)
                     - \varepsilon \log \sigma(-\beta \Delta)

    The Bradley-Terry negative log-likelihood of the preference under the implicit reward
    ``β log(π/π_ref)`` (``ε = 0``, TRL's ``loss_type="sigmoid"``); with ``ε > 0`` the
    conservative DPO of Mitchell (2023), which assumes the preference labels are flipped
    with probability ``ε`` (TRL's CPO ``sigmoid`` loss with ``label_smoothing``, on
    log-ratios). Computed with ``softplus`` so it is exact for any margin.

    {pair_args}
      beta: ``β``, the strength of the KL regularisation towards the reference.
      label_smoothing: ``ε`` in ``[0, 0.5)``, the assumed rate of flipped labels.

    Returns:
      ``[...]``, one loss per pair, dtype of ``policy_chosen_logps``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> pc, pr = jnp.array([-10.0, -12.0]), jnp.array([-11.0, -10.0])
      >>> rc, rr = jnp.array([-10.5, -11.0]), jnp.array([-10.5, -11.0])
      >>> jl.dpo_loss(pc, pr, rc, rr, beta=0.5).round(4).tolist()
      [0.4741, 1.3133]

    References:
      Rafailov et al., `Direct Preference Optimization: Your Language Model is Secretly a
      Reward Model <https://arxiv.org/abs/2305.18290>`_, 2023; Mitchell, `A note on DPO
      with noisy preferences and relationship to IPO
      <https://ericmitchell.ai/cdpo.pdf>`_, 2023.
    """
    first, z, _, eps = _dpo_family_inputs(
        policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
        reference_rejected_logps, beta, label_smoothing, "dpo_loss",
    )  # fmt: skip
    return _smoothed_logistic(z, eps).astype(first.dtype)


def _smoothed_logistic_pair_grad(
    first: jax.Array, z: jax.Array, b: jax.Array, eps: ArrayLike
) -> tuple[jax.Array, jax.Array]:
    """``±β (σ(z) - (1 - ε))`` w.r.t. the policy's chosen and rejected log-probabilities.

    ``z = βΔ`` (DPO) or ``z = β(c - r) - γ`` (SimPO): both are ``β`` times the chosen
    log-probability plus terms that do not depend on it.
    """
    return _pair(first, b * _smoothed_logistic_grad(z, eps))


_dpo_loss_grad = closed_form_of(dpo_loss, _dpo_family_inputs)(_smoothed_logistic_pair_grad)


def robust_dpo_loss(
    policy_chosen_logps: ArrayLike,
    policy_rejected_logps: ArrayLike,
    reference_chosen_logps: ArrayLike,
    reference_rejected_logps: ArrayLike,
    *,
    beta: ArrayLike = 0.1,
    label_smoothing: ArrayLike = 0.0,
) -> jax.Array:
    r"""Robust DPO (rDPO): the DPO loss de-biased for preference labels flipped at rate ε.

    .. math:: \ell = \frac{-(1 - \varepsilon) \log \sigma(\beta \Delta)
                     + \varepsilon \log \sigma(-\beta \Delta)}{1 - 2 \varepsilon}

    An unbiased estimate of the clean-label DPO loss when each label is flipped with
    probability ``ε`` (TRL's ``loss_type="robust"``). Unlike :func:`dpo_loss` it can be
    negative. ``ε = 0`` is DPO.

    {pair_args}
      beta: ``β``.
      label_smoothing: ``ε`` in ``[0, 0.5)``, the flip rate.

    Returns:
      ``[...]``, one loss per pair, dtype of ``policy_chosen_logps``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> pc, pr = jnp.array([-10.0, -12.0]), jnp.array([-11.0, -10.0])
      >>> rc, rr = jnp.array([-10.5, -11.0]), jnp.array([-10.5, -11.0])
      >>> jl.robust_dpo_loss(pc, pr, rc, rr, beta=0.5, label_smoothing=0.1).round(4).tolist()
      [0.4116, 1.4383]

    References:
      Chowdhury et al., `Provably Robust DPO: Aligning Language Models with Noisy
      Feedback <https://arxiv.org/abs/2403.00409>`_, 2024.
    """
    first, z, _, eps = _dpo_family_inputs(
        policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
        reference_rejected_logps, beta, label_smoothing, "robust_dpo_loss",
    )  # fmt: skip
    if _is_zero(eps):
        return _softplus(-z).astype(first.dtype)
    e = _coefficient(eps, z)
    out = ((1.0 - e) * _softplus(-z) - e * _softplus(z)) / (1.0 - 2.0 * e)
    return out.astype(first.dtype)


@closed_form_of(robust_dpo_loss, _dpo_family_inputs)
def _robust_dpo_loss_grad(
    first: jax.Array, z: jax.Array, b: jax.Array, eps: ArrayLike
) -> tuple[jax.Array, jax.Array]:
    """``±β (σ(βΔ) - (1 - ε)/(1 - 2ε))``."""
    e = _coefficient(eps, z)
    return _pair(first, b * (jax.nn.sigmoid(z) - (1.0 - e) / (1.0 - 2.0 * e)))


# --- IPO and the hinge (SLiC) loss ---------------------------------------------------------


def _margin_inputs(
    policy_chosen_logps: ArrayLike,
    policy_rejected_logps: ArrayLike,
    reference_chosen_logps: ArrayLike,
    reference_rejected_logps: ArrayLike,
    beta: ArrayLike,
    fn: str,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(first as given, Δ, β)``."""
    first, delta = _dpo_inputs(
        policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
        reference_rejected_logps, fn,
    )  # fmt: skip
    return first, delta, _coefficient(_beta(beta, fn), delta)


def ipo_loss(
    policy_chosen_logps: ArrayLike,
    policy_rejected_logps: ArrayLike,
    reference_chosen_logps: ArrayLike,
    reference_rejected_logps: ArrayLike,
    *,
    beta: ArrayLike = 0.1,
) -> jax.Array:
    r"""Identity preference optimisation (IPO): the squared distance of Δ to ``1/(2β)``.

    .. math:: \ell = \left(\Delta - \frac{1}{2\beta}\right)^2

    Regresses the log-ratio margin onto a finite target instead of pushing it to
    infinity, so it does not overfit deterministic preferences (``β`` is the paper's
    ``τ``). TRL's ``loss_type="ipo"`` normalises by the completions' lengths: pass mean
    log-probabilities (``sequence_log_probs(..., average=True)`` for the policy and the
    reference) to get TRL's values.

    {pair_args}
      beta: ``β`` (``τ``); the target margin is ``1/(2β)``.

    Returns:
      ``[...]``, one loss per pair, dtype of ``policy_chosen_logps``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> pc, pr = jnp.array([-1.0, -2.0]), jnp.array([-2.0, -1.0])
      >>> rc, rr = jnp.array([-1.5, -1.5]), jnp.array([-1.5, -1.5])
      >>> jl.ipo_loss(pc, pr, rc, rr, beta=0.5).tolist()
      [0.0, 4.0]

    References:
      Azar et al., `A General Theoretical Paradigm to Understand Learning from Human
      Preferences <https://arxiv.org/abs/2310.12036>`_, 2023, eq. 17.
    """
    first, delta, b = _margin_inputs(
        policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
        reference_rejected_logps, beta, "ipo_loss",
    )  # fmt: skip
    return jnp.square(delta - 0.5 / b).astype(first.dtype)


@closed_form_of(ipo_loss, _margin_inputs)
def _ipo_loss_grad(first: jax.Array, delta: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``±2 (Δ - 1/(2β))``."""
    return _pair(first, 2.0 * (delta - 0.5 / b))


def preference_hinge_loss(
    policy_chosen_logps: ArrayLike,
    policy_rejected_logps: ArrayLike,
    reference_chosen_logps: ArrayLike,
    reference_rejected_logps: ArrayLike,
    *,
    beta: ArrayLike = 0.1,
) -> jax.Array:
    r"""The hinge preference loss of SLiC and RSO on the log-ratio margin.

    .. math:: \ell = \max(0,\ 1 - \beta \Delta)

    TRL's ``loss_type="hinge"``: the margin must exceed ``1/β`` (the paper's margin
    ``δ``). With zero reference log-probabilities it is SLiC's rank calibration loss on
    the policy's log-likelihoods. The gradient at the kink is 0 (as ``torch.relu``).

    {pair_args}
      beta: ``β``, the inverse of the required margin.

    Returns:
      ``[...]``, one loss per pair, dtype of ``policy_chosen_logps``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> pc, pr = jnp.array([-1.0, -2.0]), jnp.array([-2.0, -1.0])
      >>> zeros = jnp.zeros(2)
      >>> jl.preference_hinge_loss(pc, pr, zeros, zeros, beta=0.5).tolist()
      [0.5, 1.5]

    References:
      Zhao et al., `SLiC-HF: Sequence Likelihood Calibration with Human Feedback
      <https://arxiv.org/abs/2305.10425>`_, 2023; Liu et al., `Statistical Rejection
      Sampling Improves Preference Optimization <https://arxiv.org/abs/2309.06657>`_, 2023.
    """
    first, delta, b = _margin_inputs(
        policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
        reference_rejected_logps, beta, "preference_hinge_loss",
    )  # fmt: skip
    slack = 1.0 - b * delta
    # relu with torch's zero gradient at the kink; a NaN slack stays NaN (NaN > 0 is False)
    hinge = jnp.where(slack > 0, slack, 0.0)
    return jnp.where(jnp.isnan(slack), slack, hinge).astype(first.dtype)


@closed_form_of(preference_hinge_loss, _margin_inputs)
def _preference_hinge_loss_grad(
    first: jax.Array, delta: jax.Array, b: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """``∓β`` where the margin is short of ``1/β``, 0 elsewhere."""
    active = 1.0 - b * delta > 0
    return _pair(first, jnp.where(active, -b, 0.0))


fill_docstrings(dpo_loss, robust_dpo_loss, ipo_loss, preference_hinge_loss, pair_args=_PAIR_ARGS)


# --- SimPO and ORPO (no reference model; length-normalised log-probabilities) -------------


def _simpo_inputs(
    policy_chosen_logps: ArrayLike,
    policy_rejected_logps: ArrayLike,
    beta: ArrayLike,
    gamma: ArrayLike,
    label_smoothing: ArrayLike,
    fn: str,
) -> tuple[jax.Array, jax.Array, jax.Array, ArrayLike]:
    """``(first as given, z = β(c - r) - γ, β, ε)``."""
    first, (c, r) = _logps(
        fn, policy_chosen_logps=policy_chosen_logps, policy_rejected_logps=policy_rejected_logps
    )
    b = _coefficient(_beta(beta, fn), c)
    return first, b * (c - r) - _coefficient(gamma, c), b, label_smoothing


def simpo_loss(
    policy_chosen_logps: ArrayLike,
    policy_rejected_logps: ArrayLike,
    *,
    beta: ArrayLike = 2.0,
    gamma: ArrayLike = 1.0,
    label_smoothing: ArrayLike = 0.0,
) -> jax.Array:
    r"""SimPO: a reference-free logistic loss on length-normalised log-probabilities.

    .. math:: \ell = -(1 - \varepsilon) \log \sigma(\beta (c - r) - \gamma)
                     - \varepsilon \log \sigma(\gamma - \beta (c - r))

    with ``c``, ``r`` the policy's *mean* per-token log-probabilities of the chosen and
    rejected completions (``sequence_log_probs(..., average=True)``) and ``γ`` a target
    reward margin. TRL's CPO trainer with ``loss_type="simpo"`` (its ``simpo_gamma`` is
    ``γ``; set ``cpo_alpha=0`` there for pure SimPO). The defaults are the paper's
    (``β = 2``, ``γ = 1``, its Llama-3 base setting); TRL's are ``β = 0.1``, ``γ = 0.5``.

    Args:
      policy_chosen_logps: ``[...]`` mean log-probabilities of the chosen completions.
      policy_rejected_logps: the same for the rejected completions, same shape.
      beta: ``β``, the reward scale.
      gamma: ``γ``, the target reward margin.
      label_smoothing: ``ε``, as in :func:`dpo_loss` (conservative form).

    Returns:
      ``[...]``, one loss per pair, dtype of ``policy_chosen_logps``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> jl.simpo_loss(jnp.array([-0.5, -1.0]), jnp.array([-1.5, -0.5])).round(4).tolist()
      [0.3133, 2.1269]

    References:
      Meng, Xia and Chen, `SimPO: Simple Preference Optimization with a Reference-Free
      Reward <https://arxiv.org/abs/2405.14734>`_, 2024.
    """
    first, z, _, eps = _simpo_inputs(
        policy_chosen_logps, policy_rejected_logps, beta, gamma, label_smoothing, "simpo_loss"
    )
    return _smoothed_logistic(z, eps).astype(first.dtype)


# The derivative of DPO's, with ``z = β(c - r) - γ``.
_simpo_loss_grad = closed_form_of(simpo_loss, _simpo_inputs)(_smoothed_logistic_pair_grad)


def _log1mexp(x: jax.Array) -> jax.Array:
    """``log(1 - eˣ)`` for ``x <= 0``, accurate on both sides of ``-log 2``; NaN for ``x > 0``."""
    near = x > -0.6931471805599453
    # Each branch sees only its own inputs, so the other's infinite slope never meets a
    # zero cotangent (0 · inf = NaN in the gradient).
    xn, xf = jnp.where(near, x, -1.0), jnp.where(near, -1.0, x)
    return jnp.where(near, jnp.log(-jnp.expm1(xn)), jnp.log1p(-jnp.exp(xf)))


def _orpo_inputs(
    policy_chosen_logps: ArrayLike, policy_rejected_logps: ArrayLike, beta: ArrayLike, fn: str
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """``(first as given, c, r, β)``."""
    first, (c, r) = _logps(
        fn, policy_chosen_logps=policy_chosen_logps, policy_rejected_logps=policy_rejected_logps
    )
    return first, c, r, _coefficient(_beta(beta, fn), c)


def _orpo_denominator(c: jax.Array, r: jax.Array) -> jax.Array:
    """``D = (1 - e^c) + e^{c-r} (1 - e^r) > 0``, with ``σ(-log odds ratio) = (1 - e^c) / D``."""
    return -jnp.expm1(c) - jnp.exp(c - r) * jnp.expm1(r)


def orpo_loss(
    policy_chosen_logps: ArrayLike,
    policy_rejected_logps: ArrayLike,
    *,
    beta: ArrayLike = 0.1,
) -> jax.Array:
    r"""ORPO: the chosen completion's NLL plus a log odds-ratio preference term (no reference).

    .. math:: \ell = -c - \beta \log \sigma\!\left(\log \frac{\operatorname{odds}(c)}
       {\operatorname{odds}(r)}\right), \qquad
       \log \operatorname{odds}(p) = p - \log(1 - e^{p})

    with ``c``, ``r`` the policy's *mean* per-token log-probabilities of the chosen and
    rejected completions (``sequence_log_probs(..., average=True)``, ``<= 0``) and ``β``
    the paper's ``λ`` (TRL's ``beta``). TRL's ORPO trainer returns the odds-ratio term as
    ``odds_ratio_loss`` (``β log σ(·)``, subtracted) and computes its NLL term separately,
    as a token mean over the whole batch of chosen prompts and completions; this loss
    uses the per-example mean ``-c`` of the paper, so add your own NLL term and use
    :func:`orpo_loss` minus ``-c`` if you need TRL's exact batch-level reduction.

    The odds ratio is computed in log space (``log1mexp``); at ``c = 0`` exactly (every
    chosen token at probability 1 in floating point) the value and gradient are the
    finite limits.

    Args:
      policy_chosen_logps: ``[...]`` mean log-probabilities of the chosen completions.
      policy_rejected_logps: the same for the rejected completions, same shape, ``< 0``.
      beta: ``β`` (``λ``), the weight of the odds-ratio term.

    Returns:
      ``[...]``, one loss per pair, dtype of ``policy_chosen_logps``. Unchecked, a
      log-probability above 0 gives NaN (``jaxlosses.checked(orpo_loss)`` raises), and a
      rejected log-probability of exactly 0 an infinite loss.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> jl.orpo_loss(jnp.array([-0.5, -1.0]), jnp.array([-1.5, -0.5]), beta=0.5).round(4).tolist()
      [0.5854, 1.6472]

    References:
      Hong, Lee and Thorne, `ORPO: Monolithic Preference Optimization without Reference
      Model <https://arxiv.org/abs/2403.07691>`_, 2024, eqs. 6-7.
    """
    first, c, r, b = _orpo_inputs(policy_chosen_logps, policy_rejected_logps, beta, "orpo_loss")
    # Near c = 0 the odds of c are infinite: there -log σ(log OR) = log1p(u) with
    # u = e^{r-c} (1 - e^c) / (1 - e^r), whose derivative has a finite limit (the log-odds
    # form's is 0 · inf). Elsewhere the log-odds form, which cannot overflow.
    near = c > -0.5
    cn = jnp.where(near, c, -1.0)
    certain = r == 0  # the rejected completion at probability 1: an infinite loss
    rn = jnp.where(certain, -1.0, r)
    u = jnp.where(certain, jnp.inf, jnp.exp(rn - cn) * jnp.expm1(cn) / jnp.expm1(rn))
    cf = jnp.where(near, -1.0, c)
    log_odds = (cf - r) - (_log1mexp(cf) - _log1mexp(r))
    odds_term = jnp.where(near, jnp.log1p(u), _softplus(-log_odds))
    # A log-probability above 0 is no probability: NaN, not a plausible number.
    out = jnp.where((c > 0) | (r > 0), jnp.nan, -c + b * odds_term)
    return out.astype(first.dtype)


@closed_form_of(orpo_loss, _orpo_inputs)
def _orpo_loss_grad(
    first: jax.Array, c: jax.Array, r: jax.Array, b: jax.Array
) -> tuple[jax.Array, jax.Array]:
    r"""``(-1 - β/D,  β (1 - e^c) / ((1 - e^r) D))``, ``D = (1 - e^c) + e^{c-r}(1 - e^r)``.

    From ``d log OR/dc = 1/(1 - e^c)``, ``d log OR/dr = -1/(1 - e^r)`` and
    ``σ(-log OR) = (1 - e^c)/D``.
    """
    d = _orpo_denominator(c, r)
    g_c = -1.0 - b / d
    g_r = b * jnp.expm1(c) / (jnp.expm1(r) * d)
    return g_c.astype(first.dtype), g_r.astype(first.dtype)


# --- KTO -----------------------------------------------------------------------------------


def _kto_inputs(
    policy_logps: ArrayLike,
    reference_logps: ArrayLike,
    desirable: ArrayLike,
    kl: ArrayLike,
    beta: ArrayLike,
    desirable_weight: ArrayLike,
    undesirable_weight: ArrayLike,
    fn: str,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]:
    """``(first as given, x, s, w, β)``: ``x = sβ(log-ratio - kl)``, sign ``s = ±1``, weight ``w``."""
    first, (p, ref) = _logps(fn, policy_logps=policy_logps, reference_logps=reference_logps)
    lab = jnp.asarray(desirable)
    if lab.dtype != jnp.bool_:
        raise TypeError(
            f"{fn}: `desirable` must be a boolean array (True for a desirable completion), "
            f"got dtype {lab.dtype} with shape {lab.shape}; pass e.g. `labels == 1`."
        )
    if lab.shape != p.shape:
        raise ValueError(
            f"{fn}: `desirable` has shape {lab.shape} but `policy_logps` has shape "
            f"{p.shape}; they must be equal (one flag per completion)."
        )
    z0 = floating(kl, "kl", fn)
    if z0.ndim != 0 and z0.shape != p.shape:
        raise ValueError(
            f"{fn}: `kl` has shape {z0.shape}; pass a scalar (the batch's KL estimate) or "
            f"one value per completion, shape {p.shape}."
        )
    z0 = z0.astype(p.dtype)
    b = _coefficient(_beta(beta, fn), p)
    s = jnp.where(lab, 1.0, -1.0).astype(p.dtype)
    w = jnp.where(lab, _coefficient(desirable_weight, p), _coefficient(undesirable_weight, p))
    return first, s * b * ((p - ref) - z0), s, w, b


def kto_loss(
    policy_logps: ArrayLike,
    reference_logps: ArrayLike,
    desirable: ArrayLike,
    kl: ArrayLike,
    *,
    beta: ArrayLike = 0.1,
    desirable_weight: ArrayLike = 1.0,
    undesirable_weight: ArrayLike = 1.0,
) -> jax.Array:
    r"""Kahneman-Tversky optimisation (KTO): unpaired desirable / undesirable completions.

    .. math:: \ell = \begin{cases}
        \lambda_D\, (1 - \sigma(\beta (\rho - z_0))) & \text{desirable} \\
        \lambda_U\, (1 - \sigma(\beta (z_0 - \rho))) & \text{undesirable}
       \end{cases}, \qquad \rho = \log \pi(y) - \log \pi_{ref}(y)

    The reference point ``z_0`` (``kl``) is an estimate of ``KL(π ‖ π_ref)`` supplied by
    the caller, as TRL computes it: the log-ratios of *mismatched* (prompt, completion)
    pairs of the batch, averaged, clamped at 0 and not differentiated,
    ``kl = jax.lax.stop_gradient(jnp.maximum(jnp.mean(policy_kl_logps -
    reference_kl_logps), 0.0))`` (across devices, a mean over the whole batch), or 0
    (TRL without ``calculate_KL``). It is an input array, so ``jax.grad`` differentiates
    it honestly if it is not stopped. TRL reduces with a mean over all completions
    (``jaxlosses.masked_mean``), and ``desirable_weight``/``undesirable_weight`` are its
    ``λ_D``/``λ_U`` (to balance unequal numbers of each).

    Args:
      policy_logps: ``[...]`` the policy's log-probabilities of the completions
        (summed: :func:`sequence_log_probs`).
      reference_logps: the reference model's, same shape.
      desirable: boolean ``[...]``, True for a desirable completion (TRL's ``label``).
      kl: ``z_0``, a scalar or one value per completion.
      beta: ``β``.
      desirable_weight: ``λ_D``.
      undesirable_weight: ``λ_U``.

    Returns:
      ``[...]``, one loss per completion, in ``[0, λ]``, dtype of ``policy_logps``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> p, ref = jnp.array([-10.0, -12.0]), jnp.array([-11.0, -11.0])
      >>> jl.kto_loss(p, ref, jnp.array([True, False]), 0.0, beta=1.0).round(4).tolist()
      [0.2689, 0.2689]

    References:
      Ethayarajh et al., `KTO: Model Alignment as Prospect Theoretic Optimization
      <https://arxiv.org/abs/2402.01306>`_, 2024, eq. 7.
    """
    first, x, _, w, _ = _kto_inputs(
        policy_logps, reference_logps, desirable, kl, beta, desirable_weight,
        undesirable_weight, "kto_loss",
    )  # fmt: skip
    return (w * jax.nn.sigmoid(-x)).astype(first.dtype)


@closed_form_of(kto_loss, _kto_inputs)
def _kto_loss_grad(
    first: jax.Array, x: jax.Array, s: jax.Array, w: jax.Array, b: jax.Array
) -> jax.Array:
    """``-s β λ σ(x) σ(-x)`` w.r.t. the policy's log-probabilities (``s = ±1``)."""
    return (-s * b * w * jax.nn.sigmoid(x) * jax.nn.sigmoid(-x)).astype(first.dtype)


# --- what a trainer logs -------------------------------------------------------------------


class PreferenceRewards(NamedTuple):
    """The implicit rewards a preference trainer logs (TRL's ``rewards/*`` metrics)."""

    chosen: jax.Array  #: ``β (log π(y_w) - log π_ref(y_w))``
    rejected: jax.Array  #: ``β (log π(y_l) - log π_ref(y_l))``
    margins: jax.Array  #: ``chosen - rejected``
    accuracies: jax.Array  #: 1.0 where ``chosen > rejected``, else 0.0


def preference_rewards(
    policy_chosen_logps: ArrayLike,
    policy_rejected_logps: ArrayLike,
    reference_chosen_logps: ArrayLike | None = None,
    reference_rejected_logps: ArrayLike | None = None,
    *,
    beta: ArrayLike = 0.1,
) -> PreferenceRewards:
    r"""The implicit rewards, their margins and the reward accuracies of a preference batch.

    .. math:: r_w = \beta (\log \pi(y_w) - \log \pi_{ref}(y_w)), \quad
       r_l = \beta (\log \pi(y_l) - \log \pi_{ref}(y_l))

    Not a loss: the numbers TRL's trainers log as ``rewards/chosen``,
    ``rewards/rejected``, ``rewards/margins`` and ``rewards/accuracies`` (their batch
    means: ``jaxlosses.masked_mean``). Without reference log-probabilities (SimPO, ORPO,
    CPO) the rewards are ``β log π``, as TRL logs them there. The outputs are under
    :func:`jax.lax.stop_gradient` (for logging, not for training).

    Args:
      policy_chosen_logps: ``[...]`` the policy's log-probabilities of the chosen
        completions.
      policy_rejected_logps: the same for the rejected completions.
      reference_chosen_logps: optional, the reference model's, same shape.
      reference_rejected_logps: optional, the same for the rejected completions.
      beta: ``β`` of the loss.

    Returns:
      A named tuple ``(chosen, rejected, margins, accuracies)`` of ``[...]`` arrays in the
      dtype of ``policy_chosen_logps``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> pc, pr = jnp.array([-10.0, -12.0]), jnp.array([-11.0, -10.0])
      >>> rc, rr = jnp.array([-10.5, -11.0]), jnp.array([-10.5, -11.0])
      >>> r = jl.preference_rewards(pc, pr, rc, rr, beta=0.5)
      >>> r.margins.tolist(), r.accuracies.tolist()
      ([0.5, -1.0], [1.0, 0.0])
    """
    fn = "preference_rewards"
    refs = (reference_chosen_logps, reference_rejected_logps)
    if (refs[0] is None) != (refs[1] is None):
        raise ValueError(
            f"{fn}: pass both `reference_chosen_logps` and `reference_rejected_logps`, or "
            "neither (reference-free rewards)."
        )
    named: dict[str, ArrayLike] = {
        "policy_chosen_logps": policy_chosen_logps,
        "policy_rejected_logps": policy_rejected_logps,
    }
    if refs[0] is not None and refs[1] is not None:
        named["reference_chosen_logps"] = refs[0]
        named["reference_rejected_logps"] = refs[1]
    first, arrays = _logps(fn, **named)
    c, r = arrays[0], arrays[1]
    if len(arrays) == 4:
        c, r = c - arrays[2], r - arrays[3]
    b = _coefficient(_beta(beta, fn), c)
    chosen, rejected = jax.lax.stop_gradient(b * c), jax.lax.stop_gradient(b * r)
    out = (chosen, rejected, chosen - rejected, (chosen > rejected).astype(c.dtype))
    return PreferenceRewards(*(o.astype(first.dtype) for o in out))


# --- run-time value checks (jaxlosses.checked) -----------------------------------------------


def _nonpositive(name: str) -> Check:
    """Values ``<= 0`` (log-probabilities)."""

    def predicates(b: Bound) -> list[Predicate]:
        if not _present(b, name):
            return []
        x = jnp.asarray(b[name])
        msg = f"`{name}` holds log-probabilities, which must be <= 0; found a maximum of {{hi}}."
        return [(x <= 0, msg, {"hi": jnp.max(x)})]

    def corrupt(b: Bound) -> dict[str, Any] | None:
        if not _present(b, name):
            return None
        return {**b, name: _set_first(b[name], 0.5)}

    return Check(name, "log-probabilities <= 0", predicates, corrupt)


register_checks(
    sequence_log_probs, labels_in_range("labels", "logits", axis=-1, ignore=unused_where("labels"))
)
register_checks(
    linear_sequence_log_probs,
    labels_in_range("labels", "weight", axis=-1, ignore=unused_where("labels")),
)
register_checks(
    orpo_loss, _nonpositive("policy_chosen_logps"), _nonpositive("policy_rejected_logps")
)
